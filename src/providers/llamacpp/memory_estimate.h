// What a llama.cpp model takes in memory, by kind (weights, KV cache, compute buffers), as llama.cpp
// itself accounts it: before a load from a model opened without its tensor data (no_alloc), after a
// load from the real context. Stateless; safe from any thread.
#pragma once

#include <llama.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "providers/llamacpp/gguf_check.h"
#include "providers/llamacpp/options.h"
#include "xervo/error.h"
#include "xervo/model_spec.h"
#include "xervo/provider.h"

namespace xervo::llamacpp {

// A context's buffers summed over llama.cpp's buffer types, host memory (RAM, file-mapped weights
// included) and device memory (a GPU's) apart.
struct ContextMemory {
  MemoryEstimate host;
  MemoryEstimate device;
  MemoryEstimate all() const;  // host + device: what the budget is charged
};

// The buffers llama.cpp reports for `ctx` and its model (llama_get_memory_breakdown).
ContextMemory memory_of(const llama_context* ctx);

// {"weights", "kv_cache", "compute", "device_bytes"} for LoadedModel::info.
nlohmann::json describe_memory(const ContextMemory& memory);

// What loading the checked file `path` for `task` with `options` would allocate: the model is opened
// without reading or allocating its tensors and given a context planned exactly as the real load
// plans it, so llama.cpp sizes every buffer it would allocate. model_load_failed with llama.cpp's
// reason when it rejects the file or the context.
Result<MemoryEstimate> estimate_memory(ModelTask task, const std::filesystem::path& path,
                                       const GgufFacts& facts, const Options& options);

}  // namespace xervo::llamacpp
