// The options of a llama.cpp model: provider settings ([providers.llamacpp]) give defaults, a spec's
// `options` override them. Values are checked here once so the loader and scheduler can trust them.
// Plain value; safe to copy across threads.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "xervo/error.h"
#include "xervo/model_spec.h"

namespace xervo::llamacpp {

enum class Pooling { model, none, mean, cls, last, rank };  // model = what the file says

struct Options {
  int context_size = 0;  // tokens per sequence; 0 = the model's (capped, see docs)
  int threads = 0;       // 0 = every hardware thread
  int batch_size = 0;    // tokens per llama_decode; 0 = 512 (embed, rerank: at least one whole input)
  int parallel = 0;      // generation slots, or inputs per embedding batch; 0 = 4 / 16
  bool mmap = true;      // map the file instead of reading it
  bool mlock = false;    // pin the model in RAM
  Pooling pooling = Pooling::model;
  bool normalize = true;  // L2-normalise embeddings
  int gpu_layers = 0;     // layers offloaded to a GPU backend (-1 = all)
  // gpu_layers = "auto": as many layers as fit in the GPU devices' free memory (llama.cpp's fitting).
  bool gpu_layers_auto = false;
  // gpu_layers = "auto": the memory left free on each GPU device (llama.cpp's fit target margin).
  int gpu_margin_mb = 512;
  bool truncate = false;  // cut over-long inputs instead of failing with context_overflow
  int queue_limit = 64;   // requests waiting for the scheduler beyond which calls fail (unavailable)
  bool pull = false;      // let the resolver download a missing "hf:" / "library:" model
  int gather_ms = 3;      // embed, rerank: how long a batch may wait for the last batch's callers (0 = never)
  // generate: the test render of the file's chat template at load must end within this (wall clock;
  // as many whole seconds of CPU), else the load fails.
  int template_timeout_ms = 10000;
};

// config_invalid naming the key when a value has the wrong type or range or the key is unknown.
Result<Options> parse_options(const nlohmann::json& settings, const nlohmann::json& spec_options);

std::string_view to_string(Pooling pooling);

}  // namespace xervo::llamacpp
