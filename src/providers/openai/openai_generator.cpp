#include "providers/openai/openai_models.h"

namespace xervo::openai {
namespace {

FinishReason map_finish(std::string_view reason) {
  // "stop", "eos", "tool_calls", "content_filter", ...: the model ended on its own terms.
  if (reason == "tool_calls" || reason == "function_call") return FinishReason::tool_calls;
  return reason == "length" ? FinishReason::length : FinishReason::stop;
}

nlohmann::json message_json(const ChatMessage& m) {
  nlohmann::json out = {{"role", m.role}, {"content", m.content}};
  if (m.role == "tool") {
    out["tool_call_id"] = m.tool_call_id;
    if (!m.name.empty()) out["name"] = m.name;
  }
  if (!m.tool_calls.empty()) {
    if (m.content.empty()) out["content"] = nullptr;
    auto calls = nlohmann::json::array();
    for (const auto& c : m.tool_calls)
      calls.push_back(
          {{"id", c.id},
           {"type", "function"},
           {"function", {{"name", c.name}, {"arguments", c.arguments.empty() ? "{}" : c.arguments}}}});
    out["tool_calls"] = std::move(calls);
  }
  return out;
}

Result<void> add_tools(const GenerateRequest& request, nlohmann::json& body) {
  if (request.tools.empty()) return {};
  auto tools = nlohmann::json::array();
  for (const auto& t : request.tools) {
    auto params = nlohmann::json::parse(t.parameters, nullptr, false);
    if (params.is_discarded() || !params.is_object())
      return Error(ErrorCode::invalid_input, "the parameters of tool '" + t.name + "' are not a JSON object");
    nlohmann::json fn = {{"name", t.name}, {"parameters", std::move(params)}};
    if (!t.description.empty()) fn["description"] = t.description;
    tools.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  body["tools"] = std::move(tools);
  switch (request.tool_choice.mode) {
    case ToolChoice::Mode::automatic:
      body["tool_choice"] = "auto";
      break;
    case ToolChoice::Mode::none:
      body["tool_choice"] = "none";
      break;
    case ToolChoice::Mode::required:
      body["tool_choice"] = "required";
      break;
    case ToolChoice::Mode::function:
      body["tool_choice"] = {{"type", "function"}, {"function", {{"name", request.tool_choice.name}}}};
      break;
  }
  if (!request.parallel_tool_calls) body["parallel_tool_calls"] = false;
  return {};
}

// message.tool_calls of a whole answer; false when they are not in OpenAI's shape.
bool read_tool_calls(const nlohmann::json& message, std::vector<ToolCall>& out) {
  auto calls = message.find("tool_calls");
  if (calls == message.end() || calls->is_null()) return true;
  if (!calls->is_array()) return false;
  for (const auto& c : *calls) {
    if (!c.is_object() || !c.contains("function") || !c["function"].is_object()) return false;
    const auto& fn = c["function"];
    ToolCall call;
    call.id = c.value("id", "");
    call.name = fn.value("name", "");
    if (auto a = fn.find("arguments"); a != fn.end())
      call.arguments = a->is_string() ? a->get<std::string>() : a->dump();
    out.push_back(std::move(call));
  }
  return true;
}

// POST {base}/chat/completions, whole or streamed over SSE.
class OpenAiGenerator final : public GeneratorModel {
 public:
  explicit OpenAiGenerator(ModelConfig config) : config_(std::move(config)) {}

  using GeneratorModel::generate;
  Result<GenerateResult> generate(const GenerateRequest& request, const TokenCallback& on_piece) override {
    if (!on_piece) return generate_deltas(request, DeltaCallback{});
    return generate_deltas(request,
                           [&](const GenerateDelta& d) { return d.content.empty() || on_piece(d.content); });
  }

  // Non-streamed requests are not streamed underneath, so a failure before the answer can still
  // fall back to another model.
  Result<GenerateResult> generate_deltas(const GenerateRequest& request,
                                         const DeltaCallback& on_delta) override {
    auto body = build_body(request);
    if (!body) return body.error();
    if (!on_delta) return generate_whole(*body, request);
    return generate_streamed(*body, request, on_delta);
  }

 private:
  Result<nlohmann::json> build_body(const GenerateRequest& request) const {
    const auto& o = request.options;
    nlohmann::json messages = nlohmann::json::array();
    if (request.messages.empty()) {
      // A raw prompt becomes one user message: chat APIs have no raw completion.
      if (request.prompt.empty())
        return Error(ErrorCode::invalid_input, "generate needs messages or a prompt");
      messages.push_back({{"role", "user"}, {"content", request.prompt}});
    }
    for (const auto& m : request.messages) {
      if (m.role != "system" && m.role != "user" && m.role != "assistant" && m.role != "tool")
        return Error(ErrorCode::invalid_input,
                     "unknown message role '" + m.role + "' (system, user, assistant, tool)");
      messages.push_back(message_json(m));
    }
    if (o.max_tokens <= 0) return Error(ErrorCode::invalid_input, "max_tokens must be positive");
    nlohmann::json body = {{"model", config_.model},
                           {"messages", std::move(messages)},
                           {config_.max_tokens_param, o.max_tokens},
                           {"temperature", o.temperature},
                           {"top_p", o.top_p}};
    if (o.seed) body["seed"] = *o.seed;
    if (!o.stop.empty()) body["stop"] = o.stop;
    if (!o.json_schema.empty()) {
      auto schema = nlohmann::json::parse(o.json_schema, nullptr, false);
      if (schema.is_discarded() || !schema.is_object())
        return Error(ErrorCode::invalid_input, "json_schema is not a JSON object");
      body["response_format"] = {
          {"type", "json_schema"},
          {"json_schema", {{"name", "response"}, {"schema", std::move(schema)}, {"strict", true}}}};
    }
    if (auto tools = add_tools(request, body); !tools) return tools.error();
    merge_extra_body(body, config_.extra_body);
    return body;
  }

  Result<GenerateResult> generate_whole(const nlohmann::json& body, const GenerateRequest& request) const {
    auto reply = config_.api->post_json("/chat/completions", body, request.cancel);
    if (!reply) {
      if (reply.error().code() == ErrorCode::cancelled) return cancelled_result({});
      return reply.error();
    }
    const auto& ctx = config_.api->context();
    const std::string shown = reply->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto choices = reply->find("choices");
    if (!reply->is_object() || choices == reply->end() || !choices->is_array() || choices->empty() ||
        !(*choices)[0].is_object())
      return net::malformed_response(ctx, "{choices: [{message: {content}}]}", shown);
    const auto& choice = (*choices)[0];
    auto message = choice.find("message");
    if (message == choice.end() || !message->is_object())
      return net::malformed_response(ctx, "choices[0].message", shown);
    GenerateResult out;
    if (auto content = message->find("content"); content != message->end()) {
      if (content->is_string())
        out.text = content->get<std::string>();
      else if (!content->is_null())
        return net::malformed_response(ctx, "a string message content", shown);
    }
    if (!read_tool_calls(*message, out.tool_calls))
      return net::malformed_response(ctx, "choices[0].message.tool_calls in OpenAI's shape", shown);
    if (auto r = message->find("reasoning_content"); r != message->end() && r->is_string())
      out.reasoning = r->get<std::string>();
    if (auto finish = choice.find("finish_reason"); finish != choice.end() && finish->is_string())
      out.finish_reason = map_finish(finish->get<std::string>());
    if (!out.tool_calls.empty() && out.finish_reason == FinishReason::stop)
      out.finish_reason = FinishReason::tool_calls;
    out.usage = read_usage(*reply);
    return out;
  }

  Result<GenerateResult> generate_streamed(nlohmann::json body, const GenerateRequest& request,
                                           const DeltaCallback& on_delta) const {
    body["stream"] = true;
    if (config_.stream_usage) body["stream_options"] = {{"include_usage", true}};
    const auto& ctx = config_.api->context();
    GenerateResult out;
    bool done = false, finished = false, caller_stopped = false;
    std::optional<Error> bad;
    auto on_event = [&](const net::SseEvent& event) {
      if (event.data == "[DONE]") {
        done = true;
        return true;
      }
      auto chunk = nlohmann::json::parse(event.data, nullptr, false);
      if (chunk.is_discarded() || !chunk.is_object()) {
        bad = net::malformed_response(ctx, "JSON stream chunks", event.data);
        return false;
      }
      if (auto err = chunk.find("error"); err != chunk.end()) {
        // An error reported inside a 200 stream (vLLM, llama-server do this when generation fails).
        std::string msg = net::api_error_message(chunk);
        bad = Error(ErrorCode::inference_failed,
                    ctx.service + " model '" + ctx.model + "' failed mid-stream: " +
                        net::body_excerpt(msg.empty() ? event.data : msg, ctx.secrets));
        return false;
      }
      if (chunk.contains("usage") && chunk["usage"].is_object()) out.usage = read_usage(chunk);
      auto choices = chunk.find("choices");
      if (choices == chunk.end() || !choices->is_array() || choices->empty())
        return true;  // usage-only chunk
      const auto& choice = (*choices)[0];
      if (!choice.is_object()) {
        bad = net::malformed_response(ctx, "choice objects in stream chunks", event.data);
        return false;
      }
      if (auto finish = choice.find("finish_reason"); finish != choice.end() && finish->is_string()) {
        out.finish_reason = map_finish(finish->get<std::string>());
        finished = true;
      }
      auto delta = choice.find("delta");
      if (delta == choice.end() || !delta->is_object()) return true;
      GenerateDelta got;
      if (auto content = delta->find("content"); content != delta->end() && content->is_string())
        got.content = content->get<std::string>();
      if (auto r = delta->find("reasoning_content"); r != delta->end() && r->is_string())
        got.reasoning = r->get<std::string>();
      if (!read_call_deltas(*delta, out.tool_calls, got.tool_calls)) {
        bad = net::malformed_response(ctx, "delta.tool_calls in OpenAI's shape", event.data);
        return false;
      }
      if (got.content.empty() && got.reasoning.empty() && got.tool_calls.empty()) return true;
      out.text += got.content;
      out.reasoning += got.reasoning;
      if (!on_delta(got)) {
        caller_stopped = true;
        return false;
      }
      return true;
    };
    auto streamed = config_.api->post_sse("/chat/completions", body, on_event, request.cancel);
    if (bad) return *bad;
    if (caller_stopped || request.cancel.stop_requested()) return cancelled_result(std::move(out));
    if (!streamed) return streamed.error();
    if (!done && !finished)
      return Error(ErrorCode::inference_failed,
                   ctx.service + " model '" + ctx.model + "' at " + ctx.base_url +
                       ": the stream ended without [DONE] or a finish_reason after " +
                       std::to_string(out.text.size()) + " bytes of text");
    if (!out.tool_calls.empty() && out.finish_reason == FinishReason::stop)
      out.finish_reason = FinishReason::tool_calls;
    return out;
  }

  // delta.tool_calls: a call's first delta names it (index, id, function.name), the next ones add
  // arguments. `calls` accumulates the whole calls; `deltas` gets this chunk's pieces.
  static bool read_call_deltas(const nlohmann::json& delta, std::vector<ToolCall>& calls,
                               std::vector<ToolCallDelta>& deltas) {
    auto list = delta.find("tool_calls");
    if (list == delta.end() || list->is_null()) return true;
    if (!list->is_array()) return false;
    for (const auto& c : *list) {
      if (!c.is_object()) return false;
      ToolCallDelta d;
      d.index = c.value("index", static_cast<int>(calls.size()));
      if (d.index < 0 || d.index > static_cast<int>(calls.size()) || d.index >= 1024) return false;
      if (auto id = c.find("id"); id != c.end() && id->is_string()) d.id = id->get<std::string>();
      if (auto fn = c.find("function"); fn != c.end() && fn->is_object()) {
        if (auto n = fn->find("name"); n != fn->end() && n->is_string()) d.name = n->get<std::string>();
        if (auto a = fn->find("arguments"); a != fn->end() && a->is_string())
          d.arguments = a->get<std::string>();
      }
      if (d.index == static_cast<int>(calls.size())) calls.push_back({d.id, d.name, ""});
      auto& call = calls[static_cast<size_t>(d.index)];
      if (!d.id.empty() && call.id.empty()) call.id = d.id;
      if (!d.name.empty() && call.name.empty()) call.name = d.name;
      call.arguments += d.arguments;
      // The first delta of a call carries its id and name, as GenerateDelta promises.
      if (d.id.empty() && !d.name.empty()) d.id = call.id;
      deltas.push_back(std::move(d));
    }
    return true;
  }

  static Result<GenerateResult> cancelled_result(GenerateResult partial) {
    partial.finish_reason = FinishReason::cancelled;
    return partial;
  }

  ModelConfig config_;
};

}  // namespace

std::shared_ptr<GeneratorModel> make_generator_model(ModelConfig config) {
  return std::make_shared<OpenAiGenerator>(std::move(config));
}

}  // namespace xervo::openai
