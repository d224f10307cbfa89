// Text generation: chat messages or a raw prompt in, text out, whole or streamed piece by piece.
// Safe to call from any number of threads at once; a provider may run concurrent requests in
// parallel slots of one model.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"
#include "xervo/usage.h"

namespace xervo {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct GenerateOptions {
  int max_tokens = 256;      // upper bound on generated tokens
  float temperature = 0.8f;  // 0 = greedy
  float top_p = 0.95f;
  int top_k = 40;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;  // 1 = off
  // Fixed seed for reproducible sampling; random when unset. All 64 bits count: a provider whose
  // engine takes fewer derives its seed from all of them (see docs/providers/*.md).
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;  // generation ends before any of these; they are never emitted
  std::string json_schema;        // when set (a JSON Schema document), output is constrained to it
};

struct GenerateRequest {
  std::vector<ChatMessage>
      messages;  // rendered through the model's chat template; when empty, `prompt` is used raw
  std::string prompt;
  GenerateOptions options;
  std::stop_token cancel;  // request_stop() ends the generation with finish_reason cancelled
};

enum class FinishReason { stop, length, cancelled };
std::string_view to_string(FinishReason reason);

struct GenerateResult {
  std::string text;
  FinishReason finish_reason = FinishReason::stop;
  Usage usage;
  std::string served_by;
};

// Receives each new piece of text as it is generated. Return false to cancel.
using TokenCallback = std::function<bool(std::string_view piece)>;

class GeneratorModel {
 public:
  virtual ~GeneratorModel() = default;
  virtual Result<GenerateResult> generate(const GenerateRequest& request, const TokenCallback& on_piece) = 0;
  Result<GenerateResult> generate(const GenerateRequest& request) {
    return generate(request, TokenCallback{});
  }
};

}  // namespace xervo
