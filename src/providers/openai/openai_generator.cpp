#include <algorithm>

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
    return generate_deltas(request, [&](const GenerateDelta& d) {
      return d.choice != 0 || d.content.empty() || on_piece(d.content);
    });
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
    add_sampling_fields(body, o);
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
    GenerateResult out;
    for (size_t i = 0; i < choices->size() && i < static_cast<size_t>(std::max(1, request.options.n)); ++i) {
      const auto& choice = (*choices)[i];
      auto message = choice.is_object() ? choice.find("message") : choice.end();
      if (!choice.is_object() || message == choice.end() || !message->is_object())
        return net::malformed_response(ctx, "choices[" + std::to_string(i) + "].message", shown);
      GenerateChoice& c = i == 0 ? out : out.more.emplace_back();
      if (auto content = message->find("content"); content != message->end()) {
        if (content->is_string())
          c.text = content->get<std::string>();
        else if (!content->is_null())
          return net::malformed_response(ctx, "a string message content", shown);
      }
      if (auto finish = choice.find("finish_reason"); finish != choice.end() && finish->is_string())
        c.finish_reason = map_finish(finish->get<std::string>());
      c.logprobs = read_logprobs(choice);
      if (!read_tool_calls(*message, c.tool_calls))
        return net::malformed_response(
            ctx, "choices[" + std::to_string(i) + "].message.tool_calls in OpenAI's shape", shown);
      if (auto r = message->find("reasoning_content"); r != message->end() && r->is_string())
        c.reasoning = r->get<std::string>();
    }
    out.mark_tool_call_finishes();
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
      for (const auto& choice : *choices) {
        if (!choice.is_object()) {
          bad = net::malformed_response(ctx, "choice objects in stream chunks", event.data);
          return false;
        }
        // Each chunk names its choice (n > 1); an index beyond what was asked for is dropped.
        auto at = choice.find("index");
        const int64_t index = at != choice.end() && at->is_number_integer() ? at->get<int64_t>() : 0;
        if (index < 0 || index >= std::max(1, request.options.n)) continue;
        while (out.choice_count() <= static_cast<size_t>(index)) out.more.emplace_back();
        GenerateChoice& c = index == 0 ? out : out.more[static_cast<size_t>(index) - 1];
        if (auto finish = choice.find("finish_reason"); finish != choice.end() && finish->is_string()) {
          c.finish_reason = map_finish(finish->get<std::string>());
          finished = true;
        }
        GenerateDelta d;
        d.choice = static_cast<int>(index);
        d.logprobs = read_logprobs(choice);
        if (auto delta = choice.find("delta"); delta != choice.end() && delta->is_object()) {
          if (auto content = delta->find("content"); content != delta->end() && content->is_string())
            d.content = content->get<std::string>();
          if (auto r = delta->find("reasoning_content"); r != delta->end() && r->is_string())
            d.reasoning = r->get<std::string>();
          if (!read_call_deltas(*delta, c.tool_calls, d.tool_calls)) {
            bad = net::malformed_response(ctx, "delta.tool_calls in OpenAI's shape", event.data);
            return false;
          }
        }
        if (d.content.empty() && d.logprobs.empty() && d.reasoning.empty() && d.tool_calls.empty()) continue;
        c.text += d.content;
        c.reasoning += d.reasoning;
        c.logprobs.insert(c.logprobs.end(), d.logprobs.begin(), d.logprobs.end());
        if (!on_delta(d)) {
          caller_stopped = true;
          return false;
        }
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
    out.mark_tool_call_finishes();
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
      auto at = c.find("index");
      if (at != c.end() && !at->is_number_integer()) return false;
      const int64_t index = at != c.end() ? at->get<int64_t>() : static_cast<int64_t>(calls.size());
      if (index < 0 || index > static_cast<int64_t>(calls.size()) || index >= 1024) return false;
      d.index = static_cast<int>(index);
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
