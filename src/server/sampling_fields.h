// The sampling fields of OpenAI's chat and completions requests beyond the basics (a 64-bit seed,
// presence and frequency penalties, logit_bias, logprobs, top_logprobs, n) and an answer's logprobs
// in OpenAI's shapes. Stateless; safe from any thread.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <vector>

#include "xervo/generator.h"

namespace xervo::server {

inline constexpr int kMaxChoices = 16;         // n
inline constexpr int kMaxTopLogprobs = 20;     // top_logprobs (chat), logprobs (completions)
inline constexpr size_t kMaxLogitBias = 1024;  // logit_bias entries

// Reads those fields of `body` into `options`, rejecting (400 invalid_input, naming the field) what
// is out of range. `chat` picks what `logprobs` is: true or false (with `top_logprobs` for the
// alternatives) on /v1/chat/completions, the number of alternatives on /v1/completions.
void parse_sampling_fields(const nlohmann::json& body, bool chat, GenerateOptions& options);

// One choice's logprobs as chat completions show them: {"content": [{token, logprob, bytes,
// top_logprobs: [{token, logprob, bytes}]}], "refusal": null}.
nlohmann::json chat_logprobs(const std::vector<TokenLogprob>& tokens);

// The same as legacy completions show them: {tokens, token_logprobs, top_logprobs: [{token:
// logprob}], text_offset}. `text_offset` is where the first of these tokens starts in the choice's
// text; it moves past them, so the chunks of a stream continue where the last one ended.
nlohmann::json completion_logprobs(const std::vector<TokenLogprob>& tokens, size_t& text_offset);

}  // namespace xervo::server
