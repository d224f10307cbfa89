#include <map>

#include "providers/gemini/gemini_models.h"

namespace xervo::gemini {
namespace {

FinishReason map_finish(std::string_view reason) {
  // STOP, SAFETY, RECITATION, ...: the model is done either way; only MAX_TOKENS means "cut short".
  return reason == "MAX_TOKENS" ? FinishReason::length : FinishReason::stop;
}

Usage read_usage(const nlohmann::json& reply) {
  Usage u;
  auto meta = reply.find("usageMetadata");
  if (meta == reply.end() || !meta->is_object()) return u;
  auto number = [&](const char* key) -> int64_t {
    auto v = meta->find(key);
    return v != meta->end() && v->is_number_integer() ? std::max<int64_t>(0, v->get<int64_t>()) : 0;
  };
  u.prompt_tokens = number("promptTokenCount");
  // Thinking tokens are generated (and billed) output too.
  u.completion_tokens = number("candidatesTokenCount") + number("thoughtsTokenCount");
  return u;
}

// A JSON text as a value for Gemini's args / response objects (which must be objects).
nlohmann::json as_object(const std::string& text, const char* key) {
  auto v = nlohmann::json::parse(text.empty() ? "{}" : text, nullptr, false);
  if (v.is_object()) return v;
  return {{key, v.is_discarded() ? nlohmann::json(text) : v}};
}

nlohmann::json function_calling_config(const ToolChoice& choice) {
  switch (choice.mode) {
    case ToolChoice::Mode::none:
      return {{"mode", "NONE"}};
    case ToolChoice::Mode::required:
      return {{"mode", "ANY"}};
    case ToolChoice::Mode::function:
      return {{"mode", "ANY"}, {"allowedFunctionNames", nlohmann::json::array({choice.name})}};
    case ToolChoice::Mode::automatic:
      break;
  }
  return {{"mode", "AUTO"}};
}

// What one GenerateContentResponse (whole, or one stream chunk) says.
struct Piece {
  std::string text;
  std::string reasoning;        // thought parts
  std::vector<ToolCall> calls;  // functionCall parts, whole
  std::optional<FinishReason> finish;
  Usage usage;
  bool has_usage = false;
  std::vector<TokenLogprob> logprobs;  // logprobsResult, when asked
  std::vector<Piece> more;             // candidates 1 .. n-1 (whole answers only)
};

// logprobsResult: chosenCandidates[i] is token i, topCandidates[i].candidates its alternatives.
std::vector<TokenLogprob> read_logprobs(const nlohmann::json& candidate) {
  std::vector<TokenLogprob> out;
  auto result = candidate.find("logprobsResult");
  if (result == candidate.end() || !result->is_object()) return out;
  auto read = [](const nlohmann::json& e, std::string& token, int32_t& id, double& logprob) {
    if (!e.is_object() || !e.contains("token") || !e["token"].is_string()) return false;
    token = e["token"].get<std::string>();
    logprob = e.contains("logProbability") && e["logProbability"].is_number()
                  ? e["logProbability"].get<double>()
                  : 0;
    id = e.contains("tokenId") && e["tokenId"].is_number_integer() ? e["tokenId"].get<int32_t>() : -1;
    return true;
  };
  auto chosen = result->find("chosenCandidates");
  auto top = result->find("topCandidates");
  if (chosen == result->end() || !chosen->is_array()) return out;
  for (size_t i = 0; i < chosen->size(); ++i) {
    TokenLogprob t;
    if (!read((*chosen)[i], t.token, t.id, t.logprob)) continue;
    if (top != result->end() && top->is_array() && i < top->size() && (*top)[i].is_object())
      if (auto alts = (*top)[i].find("candidates"); alts != (*top)[i].end() && alts->is_array())
        for (const auto& a : *alts) {
          TokenLogprob::Alternative alt;
          if (read(a, alt.token, alt.id, alt.logprob)) t.top.push_back(std::move(alt));
        }
    out.push_back(std::move(t));
  }
  return out;
}

class GeminiGenerator final : public GeneratorModel {
 public:
  explicit GeminiGenerator(ModelConfig config) : config_(std::move(config)) {}

  using GeneratorModel::generate;
  Result<GenerateResult> generate(const GenerateRequest& request, const TokenCallback& on_piece) override {
    if (!on_piece) return generate_deltas(request, DeltaCallback{});
    return generate_deltas(request,
                           [&](const GenerateDelta& d) { return d.content.empty() || on_piece(d.content); });
  }

  Result<GenerateResult> generate_deltas(const GenerateRequest& request,
                                         const DeltaCallback& on_delta) override {
    auto body = build_body(request);
    if (!body) return body.error();
    const std::string name = "/models/" + config_.model;
    GenerateResult out;
    if (on_delta && (request.options.n > 1 || request.options.logprobs))
      return Error(ErrorCode::invalid_input,
                   "Gemini answers n > 1 (candidateCount) and logprobs whole only: "
                   "ask without streaming");
    if (!on_delta) {
      auto reply = config_.api->post_json(name + ":generateContent", *body, request.cancel);
      if (!reply) {
        if (reply.error().code() == ErrorCode::cancelled) return cancelled(std::move(out));
        return reply.error();
      }
      auto piece = read_response(*reply, /*streaming=*/false);
      if (!piece) return piece.error();
      out.text = std::move(piece->text);
      out.reasoning = std::move(piece->reasoning);
      out.tool_calls = std::move(piece->calls);
      out.finish_reason = piece->finish.value_or(FinishReason::stop);
      out.logprobs = std::move(piece->logprobs);
      for (auto& m : piece->more) {
        GenerateChoice& c = out.more.emplace_back();
        c.text = std::move(m.text);
        c.reasoning = std::move(m.reasoning);
        c.tool_calls = std::move(m.calls);
        c.finish_reason = m.finish.value_or(FinishReason::stop);
        c.logprobs = std::move(m.logprobs);
      }
      out.usage = piece->usage;
      return with_call_finish(std::move(out));
    }

    bool finished = false, caller_stopped = false;
    std::optional<Error> bad;
    auto on_event = [&](const net::SseEvent& event) {
      auto chunk = nlohmann::json::parse(event.data, nullptr, false);
      if (chunk.is_discarded() || !chunk.is_object()) {
        bad = net::malformed_response(config_.api->context(), "JSON stream chunks", event.data);
        return false;
      }
      auto piece = read_response(chunk, /*streaming=*/true);
      if (!piece) {
        bad = piece.error();
        return false;
      }
      if (piece->has_usage) out.usage = piece->usage;  // cumulative in each chunk: keep the last
      if (piece->finish) {
        out.finish_reason = *piece->finish;
        finished = true;
      }
      GenerateDelta delta;
      delta.content = piece->text;
      delta.reasoning = piece->reasoning;
      for (auto& call : piece->calls) {  // a streamed functionCall arrives whole
        delta.tool_calls.push_back(
            {static_cast<int>(out.tool_calls.size()), call.id, call.name, call.arguments});
        out.tool_calls.push_back(std::move(call));
      }
      if (delta.content.empty() && delta.reasoning.empty() && delta.tool_calls.empty()) return true;
      out.text += delta.content;
      out.reasoning += delta.reasoning;
      if (!on_delta(delta)) {
        caller_stopped = true;
        return false;
      }
      return true;
    };
    auto streamed =
        config_.api->post_sse(name + ":streamGenerateContent?alt=sse", *body, on_event, request.cancel);
    if (bad) return *bad;
    if (caller_stopped || request.cancel.stop_requested()) return cancelled(std::move(out));
    if (!streamed) return streamed.error();
    if (!finished) {
      const auto& ctx = config_.api->context();
      return Error(ErrorCode::inference_failed, ctx.service + " model '" + ctx.model + "' at " +
                                                    ctx.base_url +
                                                    ": the stream ended without a finishReason after " +
                                                    std::to_string(out.text.size()) + " bytes of text");
    }
    return with_call_finish(std::move(out));
  }

 private:
  Result<nlohmann::json> build_body(const GenerateRequest& request) const {
    const auto& o = request.options;
    nlohmann::json contents = nlohmann::json::array();
    std::string system;
    std::map<std::string, std::string> call_names;  // tool-call id -> function, for functionResponse
    if (request.messages.empty()) {
      if (request.prompt.empty())
        return Error(ErrorCode::invalid_input, "generate needs messages or a prompt");
      contents.push_back({{"role", "user"}, {"parts", {{{"text", request.prompt}}}}});
    }
    for (const auto& m : request.messages) {
      if (m.role == "system") {
        // Gemini takes one system instruction, apart from the turns.
        if (!system.empty()) system += "\n\n";
        system += m.content;
      } else if (m.role == "user") {
        contents.push_back({{"role", "user"}, {"parts", {{{"text", m.content}}}}});
      } else if (m.role == "assistant") {
        auto parts = nlohmann::json::array();
        if (!m.content.empty() || m.tool_calls.empty()) parts.push_back({{"text", m.content}});
        for (const auto& c : m.tool_calls) {
          parts.push_back({{"functionCall", {{"name", c.name}, {"args", as_object(c.arguments, "value")}}}});
          call_names[c.id] = c.name;
        }
        contents.push_back({{"role", "model"}, {"parts", std::move(parts)}});
      } else if (m.role == "tool") {
        // The result of a call goes back as a functionResponse, named like the call it answers.
        std::string fn = m.name;
        if (fn.empty())
          if (auto it = call_names.find(m.tool_call_id); it != call_names.end()) fn = it->second;
        if (fn.empty())
          return Error(ErrorCode::invalid_input, "a tool message answers call '" + m.tool_call_id +
                                                     "', which no earlier assistant message made (Gemini "
                                                     "needs the function's name)");
        nlohmann::json part = {
            {"functionResponse", {{"name", fn}, {"response", as_object(m.content, "content")}}}};
        // Consecutive results share one turn, as Gemini expects them after a turn of calls.
        if (!contents.empty() && contents.back()["role"] == "user" && !contents.back()["parts"].empty() &&
            contents.back()["parts"][0].contains("functionResponse"))
          contents.back()["parts"].push_back(std::move(part));
        else
          contents.push_back({{"role", "user"}, {"parts", {std::move(part)}}});
      } else {
        return Error(ErrorCode::invalid_input,
                     "unknown message role '" + m.role + "' (system, user, assistant, tool)");
      }
    }
    if (contents.empty()) return Error(ErrorCode::invalid_input, "generate needs at least one user message");
    if (o.max_tokens <= 0) return Error(ErrorCode::invalid_input, "max_tokens must be positive");
    nlohmann::json config = {
        {"temperature", o.temperature}, {"topP", o.top_p}, {"maxOutputTokens", o.max_tokens}};
    if (o.top_k > 0) config["topK"] = o.top_k;
    if (!o.stop.empty()) config["stopSequences"] = o.stop;
    if (o.seed) config["seed"] = *o.seed;
    // OpenAI's penalties have Gemini's meaning; Gemini has no logit bias.
    if (!o.logit_bias.empty())
      return Error(ErrorCode::invalid_input, "Gemini has no logit_bias: remove it for this model");
    if (o.presence_penalty != 0.0f) config["presencePenalty"] = o.presence_penalty;
    if (o.frequency_penalty != 0.0f) config["frequencyPenalty"] = o.frequency_penalty;
    if (o.n > 1) config["candidateCount"] = o.n;
    if (o.logprobs) {
      config["responseLogprobs"] = true;
      if (o.top_logprobs > 0) config["logprobs"] = o.top_logprobs;
    }
    if (!o.json_schema.empty()) {
      auto schema = nlohmann::json::parse(o.json_schema, nullptr, false);
      if (schema.is_discarded() || !schema.is_object())
        return Error(ErrorCode::invalid_input, "json_schema is not a JSON object");
      config["responseMimeType"] = "application/json";
      config[config_.json_schema_field] = std::move(schema);
    }
    for (const auto& [key, value] : config_.extra_generation_config.items()) config[key] = value;
    nlohmann::json body = {{"contents", std::move(contents)}, {"generationConfig", std::move(config)}};
    if (!system.empty()) body["systemInstruction"] = {{"parts", {{{"text", system}}}}};
    if (!request.tools.empty()) {
      auto declarations = nlohmann::json::array();
      for (const auto& t : request.tools) {
        auto params = nlohmann::json::parse(t.parameters, nullptr, false);
        if (params.is_discarded() || !params.is_object())
          return Error(ErrorCode::invalid_input,
                       "the parameters of tool '" + t.name + "' are not a JSON object");
        nlohmann::json fn = {{"name", t.name}, {"parameters", std::move(params)}};
        if (!t.description.empty()) fn["description"] = t.description;
        declarations.push_back(std::move(fn));
      }
      body["tools"] = nlohmann::json::array({{{"functionDeclarations", std::move(declarations)}}});
      body["toolConfig"] = {{"functionCallingConfig", function_calling_config(request.tool_choice)}};
    }
    return body;
  }

  // Every candidate (a stream chunk has one) and the usage.
  Result<Piece> read_response(const nlohmann::json& reply, bool streaming) const {
    const auto& ctx = config_.api->context();
    Piece p;
    if (reply.contains("usageMetadata")) {
      p.usage = read_usage(reply);
      p.has_usage = true;
    }
    auto candidates = reply.find("candidates");
    if (candidates == reply.end() || !candidates->is_array() || candidates->empty()) {
      if (auto fb = reply.find("promptFeedback");
          fb != reply.end() && fb->is_object() && fb->contains("blockReason"))
        return Error(ErrorCode::invalid_input,
                     ctx.service + " model '" + ctx.model +
                         "' refused the prompt: " + net::body_excerpt(fb->at("blockReason").dump()));
      if (streaming) return p;  // a usage-only chunk
      return net::malformed_response(ctx, "{candidates: [{content: {parts: [{text}]}}]}",
                                     reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    for (size_t i = 0; i < candidates->size(); ++i) {
      const auto& c = (*candidates)[i];
      if (!c.is_object()) return net::malformed_response(ctx, "candidate objects", c.dump());
      if (!read_candidate(c, i == 0 ? p : p.more.emplace_back()))
        return net::malformed_response(ctx, "functionCall parts with a name", c.dump());
      if (streaming) break;  // a stream has one candidate
    }
    return p;
  }

  // One candidate: its text, thought parts (as reasoning), function calls, finishReason and
  // logprobs. False for a functionCall part without a name.
  static bool read_candidate(const nlohmann::json& c, Piece& p) {
    if (auto content = c.find("content"); content != c.end() && content->is_object()) {
      if (auto parts = content->find("parts"); parts != content->end() && parts->is_array()) {
        for (const auto& part : *parts) {
          if (!part.is_object()) continue;
          if (auto fc = part.find("functionCall"); fc != part.end() && fc->is_object()) {
            ToolCall call;
            auto id = fc->find("id");
            call.id = id != fc->end() && id->is_string() ? id->get<std::string>() : new_tool_call_id();
            auto name = fc->find("name");
            if (name == fc->end() || !name->is_string() || name->get<std::string>().empty()) return false;
            call.name = name->get<std::string>();
            call.arguments = fc->contains("args") ? (*fc)["args"].dump() : "{}";
            p.calls.push_back(std::move(call));
            continue;
          }
          auto t = part.find("text");
          if (t == part.end() || !t->is_string()) continue;
          auto thought = part.find("thought");
          const bool is_thought = thought != part.end() && thought->is_boolean() && thought->get<bool>();
          (is_thought ? p.reasoning : p.text) += t->get<std::string>();
        }
      }
    }
    if (auto f = c.find("finishReason"); f != c.end() && f->is_string() && !f->get<std::string>().empty() &&
                                         f->get<std::string>() != "FINISH_REASON_UNSPECIFIED")
      p.finish = map_finish(f->get<std::string>());
    p.logprobs = read_logprobs(c);
    return true;
  }

  static Result<GenerateResult> with_call_finish(GenerateResult out) {
    out.mark_tool_call_finishes();
    return out;
  }

  static Result<GenerateResult> cancelled(GenerateResult partial) {
    partial.finish_reason = FinishReason::cancelled;
    return partial;
  }

  ModelConfig config_;
};

}  // namespace

std::shared_ptr<GeneratorModel> make_generator_model(ModelConfig config) {
  return std::make_shared<GeminiGenerator>(std::move(config));
}

}  // namespace xervo::gemini
