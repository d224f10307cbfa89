// Anthropic's Messages API in xervo's terms: a request body becomes a GenerateRequest (system
// prompt, content blocks, tools, tool choice, thinking), a GenerateResult becomes a message of
// content blocks with Anthropic's stop reason, and errors take Anthropic's shape
// {"type": "error", "error": {"type", "message"}}. The routes are in anthropic_routes.cpp.
// Stateless functions; safe from any thread.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/http_message.h"
#include "xervo/error.h"
#include "xervo/generator.h"
#include "xervo/server.h"

namespace xervo::server {

// A parsed POST /v1/messages or /v1/messages/count_tokens body.
struct MessagesRequest {
  std::string model;  // as the client named it: an alias or an allowed model id
  bool stream = false;
  GenerateRequest generate;  // messages, options, tools and tool choice (no cancel token yet)
  std::optional<std::chrono::milliseconds> keep_alive;  // xervo's own extension, as on every route
};

// Rejects (400 invalid_input naming the field) what the API does not allow or xervo cannot do:
// image and document blocks, server tools, a final assistant turn (prefill), max_tokens out of
// [1, limits.max_tokens]. `counting` parses count_tokens' subset: no max_tokens, sampling or stream.
MessagesRequest parse_messages_request(const nlohmann::json& body, const ServerOptions& limits,
                                       bool counting);

// Why a message ended: "end_turn", "max_tokens", "stop_sequence" (with the string, one of the
// request's `stops`) or "tool_use"; `sequence` is null unless a stop sequence ended it.
struct StopReason {
  std::string reason;
  nlohmann::json sequence;
};
StopReason stop_reason_of(const GenerateChoice& choice, const std::vector<std::string>& stops);

// A tool call's arguments as the object tool_use.input is ({} for none); rejects with
// inference_failed when the model's arguments are not a JSON object.
nlohmann::json tool_input(std::string_view arguments, std::string_view tool_name);

// An id for a tool call the provider left without one.
std::string tool_use_id(const ToolCall& call, const std::string& message_id, size_t index);

nlohmann::json usage_json(int64_t input_tokens, int64_t output_tokens);

// The whole message: thinking, text and tool_use blocks in that order (one empty text block when
// there is nothing else), stop reason and usage.
nlohmann::json message_json(const std::string& id, const std::string& model, const GenerateResult& result,
                            const std::vector<std::string>& stops);

// Anthropic's error type for an HTTP status: invalid_request_error (400 and other 4xx),
// authentication_error (401), permission_error (403), not_found_error (404), request_too_large
// (413), rate_limit_error (429), timeout_error (504), overloaded_error (503), api_error (5xx).
std::string_view anthropic_error_type(int status);
nlohmann::json anthropic_error_body(const Error& error);

// The Anthropic routes: /v1/messages and everything under it.
bool is_anthropic_path(std::string_view path);

// Every response of an Anthropic route passes here once the shared steps (auth, rate limit,
// routing) and the handler are done: an error body in OpenAI's shape becomes Anthropic's, and the
// request id is also sent as `request-id`, the header Anthropic's clients read.
void finish_anthropic_response(HttpResponse& res, const std::string& request_id);

}  // namespace xervo::server
