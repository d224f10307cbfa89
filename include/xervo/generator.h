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
#include <utility>
#include <vector>

#include "xervo/error.h"
#include "xervo/usage.h"

namespace xervo {

// A function the model may call: its name, what it does, and its parameters as a JSON Schema
// document (text, as the client sent it).
struct ToolDefinition {
  std::string name;
  std::string description;
  std::string parameters = R"({"type":"object","properties":{}})";
};

// How the model may use the tools of a request: `auto` lets it choose between text and calls,
// `none` forbids calls (the tools still reach the prompt), `required` forces at least one call,
// `function` forces a call of the tool named `name`.
struct ToolChoice {
  enum class Mode { automatic, none, required, function };
  Mode mode = Mode::automatic;
  std::string name;  // for Mode::function
};

// A call the model made: `arguments` is a JSON object as text (valid JSON whenever a grammar
// forced the call's shape; clients parse it).
struct ToolCall {
  std::string id;  // "call_..." (made up when the model gives none), echoed by the tool message
  std::string name;
  std::string arguments;
};

struct ChatMessage {
  ChatMessage() = default;
  ChatMessage(std::string role_, std::string content_)
      : role(std::move(role_)), content(std::move(content_)) {}

  std::string role;  // "system", "user", "assistant", "tool"
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant: the calls it made (content may be empty)
  std::string tool_call_id;          // tool: the call this message answers
  std::string name;                  // tool: the function's name (Gemini's functionResponse needs it)
  std::string reasoning_content;     // assistant: its earlier thinking, for templates that show it
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

  // Penalties on tokens already generated (OpenAI's meaning; 0 = off, range [-2, 2]).
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // Added to the logits of these token ids before sampling ([-100, 100]; -100 bans a token).
  std::vector<std::pair<int32_t, float>> logit_bias;
  // Report each generated token's log probability, and this many alternatives per step (0..20).
  bool logprobs = false;
  int top_logprobs = 0;
  // Independent sequences for one prompt (1..16); a local engine evaluates the prompt once.
  int n = 1;
  // For templates that think (<think>...</think> and similar): return the thinking apart as
  // GenerateResult::reasoning. False leaves it inside the text.
  bool separate_reasoning = true;
};

struct GenerateRequest {
  std::vector<ChatMessage>
      messages;  // rendered through the model's chat template; when empty, `prompt` is used raw
  std::string prompt;
  GenerateOptions options;
  std::stop_token cancel;             // request_stop() ends the generation with finish_reason cancelled
  std::vector<ToolDefinition> tools;  // functions the model may call (rendered into the prompt)
  ToolChoice tool_choice;
  bool parallel_tool_calls = true;  // false: at most one call per answer
};

enum class FinishReason { stop, length, cancelled, tool_calls };
std::string_view to_string(FinishReason reason);

// One generated token's log probability (natural log), with the most likely alternatives at that
// step when asked. `token` holds the token's raw bytes (possibly part of a UTF-8 character).
struct TokenLogprob {
  struct Alternative {
    std::string token;
    int32_t id = -1;
    double logprob = 0;
  };
  std::string token;
  int32_t id = -1;
  double logprob = 0;
  std::vector<Alternative> top;  // best first, GenerateOptions::top_logprobs of them
};

// One generated sequence.
struct GenerateChoice {
  std::string text;       // the answer (without the thinking or tool-call markup)
  std::string reasoning;  // the thinking, when separated (GenerateOptions::separate_reasoning)
  std::vector<ToolCall> tool_calls;
  FinishReason finish_reason = FinishReason::stop;  // tool_calls when the answer is calls
  std::vector<TokenLogprob> logprobs;               // per generated token, when asked
  // The stop string that ended the sequence (one of GenerateOptions::stop, or an end marker of the
  // chat template), when one did and the provider knows which; empty otherwise.
  std::string stop_sequence;
};

// The first (often only) sequence, plus the others when GenerateOptions::n > 1. `usage` counts the
// prompt once and the completion tokens of all sequences.
struct GenerateResult : GenerateChoice {
  Usage usage;
  std::string served_by;
  std::vector<GenerateChoice> more;  // choices 1 .. n-1, in order

  size_t choice_count() const { return 1 + more.size(); }
  const GenerateChoice& choice(size_t i) const { return i == 0 ? *this : more.at(i - 1); }
  GenerateChoice& choice(size_t i) { return i == 0 ? *this : more.at(i - 1); }
  // Every choice that ended normally with tool calls gets FinishReason::tool_calls.
  void mark_tool_call_finishes();
};

// A new tool-call id, "call_" and 24 random letters and digits, for models that name none.
std::string new_tool_call_id();

// Receives each new piece of text as it is generated. Return false to cancel.
using TokenCallback = std::function<bool(std::string_view piece)>;

// A streamed piece of a tool call: the first delta of a call carries its id and name, the next
// ones pieces of `arguments` (concatenated, they are the call's arguments).
struct ToolCallDelta {
  int index = 0;  // which call of the answer
  std::string id;
  std::string name;
  std::string arguments;
};

// What one step of a streamed generation adds, for one sequence. Any part may be empty.
struct GenerateDelta {
  int choice = 0;  // which sequence (0 .. n-1)
  std::string content;
  std::string reasoning;
  std::vector<ToolCallDelta> tool_calls;
  std::vector<TokenLogprob> logprobs;  // of the tokens this delta covers, when asked
};

// Receives every delta of a streamed generation. Return false to cancel.
using DeltaCallback = std::function<bool(const GenerateDelta& delta)>;

class GeneratorModel {
 public:
  virtual ~GeneratorModel() = default;
  virtual Result<GenerateResult> generate(const GenerateRequest& request, const TokenCallback& on_piece) = 0;
  Result<GenerateResult> generate(const GenerateRequest& request) {
    return generate(request, TokenCallback{});
  }
  // The same, streaming every kind of delta: content, thinking, tool-call pieces and logprobs, for
  // each of n sequences. The default streams content only, through the TokenCallback overload, as
  // choice 0; providers that know more override it.
  virtual Result<GenerateResult> generate_deltas(const GenerateRequest& request,
                                                 const DeltaCallback& on_delta);
  // The tokens the prompt of `request` takes (messages rendered through the chat template, tools
  // included), without generating. The default (providers without the model's tokenizer, such as
  // remote APIs) is capability_mismatch.
  virtual Result<int64_t> count_prompt_tokens(const GenerateRequest& request);
};

}  // namespace xervo
