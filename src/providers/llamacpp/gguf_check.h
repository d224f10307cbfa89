// Checks a GGUF file before llama.cpp loads it. llama.cpp aborts the process (GGML_ASSERT) on some
// malformed files, so every fact it would trip over is checked here first with gguf's own parser
// (which fails cleanly): the header, that each tensor's data lies inside the file, a known
// architecture and that the model can do the asked task. Stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "providers/llamacpp/options.h"
#include "xervo/error.h"
#include "xervo/model_spec.h"

namespace xervo::llamacpp {

struct GgufFacts {
  std::string architecture;  // general.architecture
  uint64_t file_size = 0;
  int64_t n_tensors = 0;
  std::optional<uint32_t> pooling_type;    // <arch>.pooling_type
  std::optional<bool> causal;              // <arch>.attention.causal
  std::optional<uint32_t> context_length;  // <arch>.context_length
  bool has_classifier_head = false;        // cls.output.weight or cls.weight
  bool has_chat_template = false;          // tokenizer.chat_template
  bool encoder_only = false;               // a BERT-like encoder: no causal generation
  bool encoder_decoder = false;            // T5-like: needs llama_encode before decoding
};

// model_load_failed (with the path and the reason) for a file llama.cpp must not see;
// model_not_found when it does not exist.
Result<GgufFacts> inspect_gguf(const std::filesystem::path& path);

// Whether a checked file can serve `task` with the given pooling override: model_load_failed when
// the architecture cannot (an encoder asked to generate), capability_mismatch when the model lacks
// what the task needs (no classification head for rerank, a reranker asked to embed).
Result<void> check_task_fit(const std::filesystem::path& path, const GgufFacts& facts, ModelTask task,
                            Pooling pooling);

}  // namespace xervo::llamacpp
