#include <algorithm>

#include "providers/openai/openai_models.h"

namespace xervo::openai {
namespace {

FinishReason map_finish(std::string_view reason) {
  // "stop", "eos", "tool_calls", "content_filter", ...: the model ended on its own terms.
  return reason == "length" ? FinishReason::length : FinishReason::stop;
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
      if (m.role != "system" && m.role != "user" && m.role != "assistant")
        return Error(ErrorCode::invalid_input,
                     "unknown message role '" + m.role + "' (system, user, assistant)");
      messages.push_back({{"role", m.role}, {"content", m.content}});
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
    }
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
        if (auto delta = choice.find("delta"); delta != choice.end() && delta->is_object())
          if (auto content = delta->find("content"); content != delta->end() && content->is_string())
            d.content = content->get<std::string>();
        if (d.content.empty() && d.logprobs.empty()) continue;
        c.text += d.content;
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
    return out;
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
