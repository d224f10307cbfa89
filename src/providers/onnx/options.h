// The options of an ONNX model: [providers.onnx] gives defaults, a spec's `options` override them.
// Checked once here so the loader and the encoder can trust them. Plain value; copy across threads.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"

namespace xervo::onnx {

enum class Pooling { model, mean, cls };  // model = what the folder's sentence-transformers files say

struct Options {
  std::string library;    // libonnxruntime.so to load; empty = the one found when xervo was built
  int threads = 0;        // ONNX Runtime's intra-op threads; 0 = every hardware thread
  int context_size = 0;   // tokens per input (rerank: per pair); 0 = config.json's max_position_embeddings
  int batch_size = 32;    // inputs per session run (a call with more runs in several)
  int max_inputs = 2048;  // inputs (documents) one call may send; more is invalid_input
  bool truncate = false;  // cut over-long inputs to context_size instead of failing with context_overflow
  Pooling pooling = Pooling::model;
  std::optional<bool> normalize;  // L2-normalise embeddings; unset = the folder's Normalize module
  std::string output;             // graph output to read; empty = last_hidden_state (embed), logits (rerank)
  int queue_limit = 64;           // calls waiting for the model beyond which calls fail (unavailable)
};

// The keys above, for ModelProvider::setting_keys().
const std::vector<std::string>& option_keys();

// config_invalid naming the key when a value has the wrong type or range or the key is unknown.
// `default_library`: the library used when neither table names one.
Result<Options> parse_options(const nlohmann::json& settings, const nlohmann::json& spec_options,
                              std::string_view default_library);

std::string_view to_string(Pooling pooling);

}  // namespace xervo::onnx
