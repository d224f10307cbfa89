// Helpers for the openai provider tests: a provider pointed at a LocalServer, and canned OpenAI
// wire-format bodies.
#pragma once

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "net/local_server.h"
#include "xervo/providers.h"

namespace xervo::testing {

inline constexpr const char* kTestKeyEnv = "XERVO_TEST_OPENAI_KEY";
inline constexpr const char* kTestKey = "sk-test-0123456789abcdefSECRET";

// Provider settings for `server` with fast retries and short timeouts.
inline nlohmann::json openai_settings(const LocalServer& server,
                                      nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json s = {
      {"base_url", server.url("/v1")},
      {"api_key_env", kTestKeyEnv},
      {"connect_timeout_ms", 2000},
      {"timeout_ms", 10000},
      {"stream_idle_timeout_ms", 5000},
      {"retry", {{"max_attempts", 3}, {"base_delay_ms", 10}, {"max_delay_ms", 50}, {"max_total_ms", 5000}}}};
  s.update(extra);
  return s;
}

inline ModelSpec openai_spec(ModelTask task, std::string model = "test-model", std::string alias = "remote") {
  ModelSpec spec;
  spec.alias = std::move(alias);
  spec.task = task;
  spec.provider = "openai";
  spec.model = std::move(model);
  return spec;
}

// An SSE body of chat.completion.chunk events for `pieces`, then a usage chunk and [DONE].
inline std::string chat_stream(const std::vector<std::string>& pieces, bool with_done = true,
                               const std::string& finish = "stop") {
  std::string out;
  for (size_t i = 0; i < pieces.size(); ++i) {
    nlohmann::json chunk = {
        {"object", "chat.completion.chunk"},
        {"choices", {{{"index", 0}, {"delta", {{"content", pieces[i]}}}, {"finish_reason", nullptr}}}}};
    out += "data: " + chunk.dump() + "\n\n";
  }
  if (!with_done) return out;
  nlohmann::json last = {
      {"choices", {{{"index", 0}, {"delta", nlohmann::json::object()}, {"finish_reason", finish}}}}};
  out += "data: " + last.dump() + "\n\n";
  nlohmann::json usage = {{"choices", nlohmann::json::array()},
                          {"usage", {{"prompt_tokens", 5}, {"completion_tokens", pieces.size()}}}};
  out += "data: " + usage.dump() + "\n\n: keep-alive comment\n\ndata: [DONE]\n\n";
  return out;
}

}  // namespace xervo::testing
