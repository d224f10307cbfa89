// Anthropic's response shapes: messages, stop reasons, usage and errors (see anthropic_json.h).
#include "server/anthropic_json.h"

#include <algorithm>

#include "server/api_error.h"

namespace xervo::server {

StopReason stop_reason_of(const GenerateChoice& choice, const std::vector<std::string>& stops) {
  if (choice.finish_reason == FinishReason::length) return {"max_tokens", nullptr};
  if (choice.finish_reason == FinishReason::tool_calls || !choice.tool_calls.empty())
    return {"tool_use", nullptr};
  // Only the client's own sequences count: a chat template's end marker is the end of the turn.
  if (!choice.stop_sequence.empty() &&
      std::find(stops.begin(), stops.end(), choice.stop_sequence) != stops.end())
    return {"stop_sequence", choice.stop_sequence};
  return {"end_turn", nullptr};
}

nlohmann::json tool_input(std::string_view arguments, std::string_view tool_name) {
  if (arguments.find_first_not_of(" \t\r\n") == std::string_view::npos) return nlohmann::json::object();
  auto parsed = nlohmann::json::parse(arguments, nullptr, false);
  if (!parsed.is_object()) {
    std::string shown(arguments.substr(0, 200));
    throw Rejection(
        Error(ErrorCode::inference_failed, "the model called tool '" + std::string(tool_name) +
                                               "' with arguments that are not a JSON object: " + shown +
                                               (arguments.size() > 200 ? "..." : "") +
                                               " (a larger max_tokens may let it finish the call)"));
  }
  return parsed;
}

std::string tool_use_id(const ToolCall& call, const std::string& message_id, size_t index) {
  if (!call.id.empty()) return call.id;
  return "toolu_" + message_id.substr(message_id.find('_') + 1) + "_" + std::to_string(index);
}

nlohmann::json usage_json(int64_t input_tokens, int64_t output_tokens) {
  // xervo has no prompt cache billing of its own: the cache counters are always zero.
  return {{"input_tokens", input_tokens},
          {"output_tokens", output_tokens},
          {"cache_creation_input_tokens", 0},
          {"cache_read_input_tokens", 0}};
}

nlohmann::json message_json(const std::string& id, const std::string& model, const GenerateResult& result,
                            const std::vector<std::string>& stops) {
  nlohmann::json content = nlohmann::json::array();
  if (!result.reasoning.empty())
    content.push_back({{"type", "thinking"}, {"thinking", result.reasoning}, {"signature", ""}});
  if (!result.text.empty()) content.push_back({{"type", "text"}, {"text", result.text}});
  for (size_t i = 0; i < result.tool_calls.size(); ++i) {
    const auto& call = result.tool_calls[i];
    content.push_back({{"type", "tool_use"},
                       {"id", tool_use_id(call, id, i)},
                       {"name", call.name},
                       {"input", tool_input(call.arguments, call.name)}});
  }
  if (content.empty()) content.push_back({{"type", "text"}, {"text", ""}});
  const StopReason stop = stop_reason_of(result, stops);
  return {{"id", id},
          {"type", "message"},
          {"role", "assistant"},
          {"model", model},
          {"content", std::move(content)},
          {"stop_reason", stop.reason},
          {"stop_sequence", stop.sequence},
          {"usage", usage_json(result.usage.prompt_tokens, result.usage.completion_tokens)}};
}

std::string_view anthropic_error_type(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
      return "overloaded_error";
    case 504:
      return "timeout_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

nlohmann::json anthropic_error_body(const Error& error) {
  return {{"type", "error"},
          {"error",
           {{"type", std::string(anthropic_error_type(http_status(error.code())))},
            {"message", error.message()}}}};
}

bool is_anthropic_path(std::string_view path) {
  return path == "/v1/messages" || path.starts_with("/v1/messages/");
}

void finish_anthropic_response(HttpResponse& res, const std::string& request_id) {
  res.set_header("request-id", request_id);
  if (res.status < 400 || res.streamed()) return;
  auto body = nlohmann::json::parse(res.body, nullptr, false);
  if (body.is_object() && body.value("type", "") == "error") return;  // already Anthropic's
  std::string message = res.body;
  if (body.is_object() && body.contains("error") && body["error"].is_object() &&
      body["error"].contains("message") && body["error"]["message"].is_string())
    message = body["error"]["message"].get<std::string>();
  nlohmann::json shaped = {
      {"type", "error"},
      {"error", {{"type", std::string(anthropic_error_type(res.status))}, {"message", message}}}};
  res.set_content(shaped.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

}  // namespace xervo::server
