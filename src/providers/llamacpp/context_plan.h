// How a loaded model's llama.cpp context is shaped for its task: tokens per sequence, sequences
// (generation slots or inputs per embedding batch), batch size, pooling, and the llama.cpp context
// parameters that follow (and the model parameters a load uses). Pure functions of the model, the
// file's facts and the options.
#pragma once

#include <llama.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "providers/llamacpp/gguf_check.h"
#include "providers/llamacpp/options.h"
#include "xervo/error.h"
#include "xervo/model_spec.h"

namespace xervo::llamacpp {

struct ContextPlan {
  llama_context_params params;
  int per_seq = 0;    // positions one sequence may use (the effective context_size)
  int n_batch = 0;    // tokens per decode
  int n_seq_max = 0;  // slots (generate) or sequences per batch (embed, rerank)
  int threads = 0;
};

// model_load_failed for a model the task cannot use; config_invalid for options that overflow.
Result<ContextPlan> plan_context(ModelTask task, const llama_model* model, const GgufFacts& facts,
                                 const Options& options, const std::string& name);

// The llama.cpp model parameters for `options` (GPU layers, load mode), without a progress callback:
// shared by the load and the memory estimate so both open the model alike.
llama_model_params model_params(const Options& options);

// Sets which devices llama.cpp may use: with `gpu_layers` 0 none but the CPU (else llama.cpp would
// still create the GPU backends, put compute buffers there and run large batches on them), else
// every device (llama.cpp's default).
void set_devices(llama_model_params& params, int gpu_layers);

std::string_view pooling_name(enum llama_pooling_type pooling);

// The KV cache: 2 (K and V) x layers x cells x kv width x f16; 0 for models without one.
uint64_t kv_estimate(const llama_model* model, llama_context* ctx);

int default_threads();

}  // namespace xervo::llamacpp
