// OpenAI-compatible generation: POST /v1/chat/completions and POST /v1/completions, whole or
// streamed as server-sent events. A streamed generation runs inside the response's stream
// function on the worker thread; a failed write (client gone) returns false from the token
// callback, which cancels the generation in the engine. A whole response is cancelled through
// the request's client_gone token when the client leaves before it is ready.
#include <ctime>

#include "core/log.h"
#include "server/generation_request.h"
#include "server/json_fields.h"
#include "server/sampling_fields.h"
#include "server/server_state.h"
#include "server/tool_fields.h"

namespace xervo::server {
namespace {

constexpr size_t kMaxStops = 16;

std::string content_text(const nlohmann::json& content, size_t index) {
  if (content.is_null()) return {};
  if (content.is_string()) return content.get<std::string>();
  std::string where = "'messages[" + std::to_string(index) + "].content'";
  if (!content.is_array()) reject_input(where + " must be a string or an array of text parts");
  std::string text;
  for (const auto& part : content) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
        !part["text"].is_string())
      reject_input(
          where +
          " may only hold {\"type\": \"text\", \"text\": ...} parts (images and audio are not supported)");
    if (!text.empty()) text += "\n";
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

std::vector<ChatMessage> parse_messages(const nlohmann::json& body) {
  auto it = body.find("messages");
  if (it == body.end() || !it->is_array() || it->empty())
    reject_input("'messages' is required: a non-empty array of {\"role\", \"content\"} objects");
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& m = (*it)[i];
    std::string where = "'messages[" + std::to_string(i) + "]'";
    if (!m.is_object()) reject_input(where + " must be an object");
    auto role = optional_string(m, "role");
    if (!role) reject_input(where + " has no 'role'");
    if (*role == "developer") role = "system";
    if (*role != "system" && *role != "user" && *role != "assistant" && *role != "tool")
      reject_input(where + " has role '" + *role +
                   "'; supported roles are system, developer, user, assistant and tool");
    ChatMessage message{*role, content_text(m.contains("content") ? m["content"] : nlohmann::json(), i)};
    parse_message_tool_fields(m, i, message);
    messages.push_back(std::move(message));
  }
  return messages;
}

std::string parse_prompt(const nlohmann::json& body) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) reject_input("'prompt' is required: a string");
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) return (*it)[0].get<std::string>();
  reject_input(
      "'prompt' must be a string (or an array of exactly one string); token arrays are not supported");
}

GenerateOptions parse_options(const nlohmann::json& body, const ServerOptions& limits) {
  GenerateOptions o;
  o.max_tokens = limits.default_max_tokens;
  if (auto n = optional_int(body, "max_tokens", 1, limits.max_tokens)) o.max_tokens = static_cast<int>(*n);
  if (auto n = optional_int(body, "max_completion_tokens", 1, limits.max_tokens))
    o.max_tokens = static_cast<int>(*n);
  if (auto t = optional_number(body, "temperature", 0, 2)) o.temperature = static_cast<float>(*t);
  if (auto p = optional_number(body, "top_p", 0, 1)) o.top_p = static_cast<float>(*p);
  if (auto k = optional_int(body, "top_k", 0, 100000)) o.top_k = static_cast<int>(*k);
  if (auto p = optional_number(body, "min_p", 0, 1)) o.min_p = static_cast<float>(*p);
  if (auto p = optional_number(body, "repeat_penalty", 0, 10)) o.repeat_penalty = static_cast<float>(*p);
  if (optional_bool(body, "echo").value_or(false)) reject_input("'echo' is not supported");

  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      o.stop.push_back(it->get<std::string>());
    } else if (it->is_array() && it->size() <= kMaxStops) {
      for (const auto& s : *it) {
        if (!s.is_string()) reject_input("'stop' must hold strings, not " + json_type_name(s));
        o.stop.push_back(s.get<std::string>());
      }
    } else {
      reject_input("'stop' must be a string or an array of at most " + std::to_string(kMaxStops) +
                   " strings");
    }
    for (const auto& s : o.stop)
      if (s.empty()) reject_input("'stop' holds an empty string");
  }

  if (auto it = body.find("response_format"); it != body.end() && !it->is_null()) {
    if (!it->is_object())
      reject_input("'response_format' must be an object like {\"type\": \"json_object\"}");
    std::string type = optional_string(*it, "type").value_or("");
    if (type == "json_object") {
      o.json_schema = R"({"type":"object"})";
    } else if (type == "json_schema") {
      auto js = it->find("json_schema");
      if (js == it->end() || !js->is_object() || !js->contains("schema") || !(*js)["schema"].is_object())
        reject_input("'response_format.json_schema.schema' must be a JSON Schema object");
      o.json_schema = (*js)["schema"].dump();
    } else if (type != "text") {
      reject_input("'response_format.type' must be text, json_object or json_schema");
    }
  }
  return o;
}

namespace {

std::string_view finish_reason_name(FinishReason r) {
  if (r == FinishReason::tool_calls) return "tool_calls";
  return r == FinishReason::length ? "length" : "stop";
}

Error cancellation_error(const CancellationTracker::Handle& cancel, const ServerOptions& options) {
  return cancel.error(options.request_timeout, "the generation");
}

// One generation request, parsed and admitted; shared by the handler and the stream provider.
struct Generation {
  ServerState& state;
  bool chat = true;
  bool stream = false;
  bool include_usage = false;
  std::string model;  // as the client named it
  std::string id;
  int64_t created = 0;
  GenerateRequest request;
  AdmittedModel admitted;
  std::shared_ptr<GeneratorModel> generator;
  std::unique_ptr<CancellationTracker::Handle> cancel;
  GenerationTimer timer;  // TTFT and TPOT

  explicit Generation(ServerState& s) : state(s) {}

  void note_piece() { timer.piece(state.metrics, admitted.spec.alias); }

  void account(const GenerateResult& result) {
    const Usage& usage = result.usage;
    record_usage(state, usage.prompt_tokens, usage.completion_tokens);
    record_cache(usage.cached, 1, usage.cache_similarity);
    if (!usage.cached) timer.finish(state.metrics, admitted.spec.alias, usage.completion_tokens);
    std::vector<std::string> reasons;
    for (size_t i = 0; i < result.choice_count(); ++i)
      reasons.emplace_back(finish_reason_name(result.choice(i).finish_reason));
    current_request().span.set("gen_ai.response.finish_reasons", std::move(reasons));
  }

  nlohmann::json usage_json(const Usage& u) const {
    return {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.total()}};
  }

  nlohmann::json envelope(const char* object) const {
    return {{"id", id}, {"object", object}, {"created", created}, {"model", model}};
  }

  // A choice's logprobs in the route's shape (null unless asked); `offset` as completion_logprobs.
  nlohmann::json logprobs_json(const std::vector<TokenLogprob>& tokens, size_t& offset) const {
    if (!request.options.logprobs) return nullptr;
    return chat ? chat_logprobs(tokens) : completion_logprobs(tokens, offset);
  }

  nlohmann::json whole_response(const GenerateResult& r) const {
    auto out = envelope(chat ? "chat.completion" : "text_completion");
    out["choices"] = nlohmann::json::array();
    for (size_t i = 0; i < r.choice_count(); ++i) {
      const GenerateChoice& c = r.choice(i);
      size_t offset = 0;
      nlohmann::json choice = {{"index", i},
                               {"logprobs", logprobs_json(c.logprobs, offset)},
                               {"finish_reason", finish_reason_name(c.finish_reason)}};
      if (chat) {
        nlohmann::json message = {{"role", "assistant"}, {"content", c.text}};
        if (!c.tool_calls.empty()) {
          if (c.text.empty()) message["content"] = nullptr;  // OpenAI's shape of an answer that only calls
          message["tool_calls"] = tool_calls_json(c.tool_calls);
        }
        if (!c.reasoning.empty()) message["reasoning_content"] = c.reasoning;
        choice["message"] = std::move(message);
      } else {
        choice["text"] = c.text;
      }
      out["choices"].push_back(std::move(choice));
    }
    out["usage"] = usage_json(r.usage);
    return out;
  }

  // One streamed chunk of choice `index`; `piece` is the delta text, `finish` null until its last chunk.
  nlohmann::json chunk(std::optional<std::string_view> piece, const nlohmann::json& finish,
                       bool with_role = false, int index = 0, nlohmann::json logprobs = nullptr,
                       const GenerateDelta* more = nullptr) const {
    auto out = envelope(chat ? "chat.completion.chunk" : "text_completion");
    nlohmann::json choice = {{"index", index}, {"logprobs", std::move(logprobs)}, {"finish_reason", finish}};
    if (chat) {
      nlohmann::json delta = nlohmann::json::object();
      if (with_role) delta["role"] = "assistant";
      if (piece) delta["content"] = std::string(*piece);
      if (more && !more->reasoning.empty()) delta["reasoning_content"] = more->reasoning;
      if (more && !more->tool_calls.empty()) delta["tool_calls"] = tool_call_deltas_json(more->tool_calls);
      choice["delta"] = std::move(delta);
    } else {
      choice["text"] = piece ? std::string(*piece) : std::string();
    }
    out["choices"] = nlohmann::json::array({choice});
    if (include_usage) out["usage"] = nullptr;
    return out;
  }

  // Runs the whole stream into `sink`; false when the client went away (the generation is cancelled).
  bool stream_to(StreamSink& sink) {
    bool alive = true;
    auto send = [&](const nlohmann::json& event) {
      if (!alive) return false;
      std::string text =
          "data: " + event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
      alive = sink.write(text);
      return alive;
    };
    const int n = request.options.n;
    for (int i = 0; chat && i < n; ++i)
      if (!send(chunk(std::string_view(), nullptr, true, i))) return false;  // gone before the first byte
    std::vector<size_t> offsets(static_cast<size_t>(n), 0);
    auto result = generator->generate_deltas(request, [&](const GenerateDelta& d) {
      if (d.choice < 0 || d.choice >= n) return true;
      if (d.content.empty() && d.logprobs.empty() && d.reasoning.empty() && d.tool_calls.empty()) return true;
      note_piece();
      std::optional<std::string_view> piece;
      if (!d.content.empty() || !chat) piece = d.content;
      return send(chunk(piece, nullptr, false, d.choice,
                        logprobs_json(d.logprobs, offsets.at(static_cast<size_t>(d.choice))), &d));
    });
    if (!alive) {
      cancel->cancel();
      spdlog::info("[{}] client disconnected; generation cancelled", current_request().request_id);
      return false;
    }
    if (!result.ok()) {
      send(error_body(result.error()));
    } else {
      account(*result);
      if (result->finish_reason == FinishReason::cancelled) {
        send(error_body(cancellation_error(*cancel, state.options)));
      } else {
        for (size_t i = 0; i < result->choice_count(); ++i)
          send(chunk(std::nullopt, finish_reason_name(result->choice(i).finish_reason), false,
                     static_cast<int>(i)));
        if (include_usage) {
          auto last = envelope(chat ? "chat.completion.chunk" : "text_completion");
          last["choices"] = nlohmann::json::array();
          last["usage"] = usage_json(result->usage);
          send(last);
        }
      }
    }
    static constexpr std::string_view kDone = "data: [DONE]\n\n";
    if (alive) alive = sink.write(kDone);
    return alive;
  }
};

void generate(ServerState& state, const HttpRequest& req, HttpResponse& res, bool chat) {
  auto& ctx = current_request();
  ctx.route = chat ? "/v1/chat/completions" : "/v1/completions";
  auto body = parse_json_object(req.body);
  auto g = std::make_shared<Generation>(state);
  g->chat = chat;
  g->model = require_string(body, "model");
  if (chat)
    g->request.messages = parse_messages(body);
  else
    g->request.prompt = parse_prompt(body);
  g->request.options = parse_options(body, state.options);
  parse_sampling_fields(body, chat, g->request.options);
  if (chat)
    parse_tool_fields(body, g->request);
  else if (auto it = body.find("tools"); it != body.end() && !it->is_null())
    reject_input("'tools' need POST /v1/chat/completions (messages); /v1/completions takes a raw prompt");
  g->stream = optional_bool(body, "stream").value_or(false);
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) reject_input("'stream_options' must be an object like {\"include_usage\": true}");
    g->include_usage = optional_bool(*it, "include_usage").value_or(false);
  }
  auto keep_alive = optional_keep_alive(body);
  g->id = std::string(chat ? "chatcmpl-" : "cmpl-") + ctx.request_id;
  g->created = static_cast<int64_t>(std::time(nullptr));

  g->admitted = admit_model(state, g->model, ModelTask::generate);
  g->cancel = track_call(state);
  g->generator = unwrap(stopped_as(state.runtime->generator(g->model, bounds(*g->cancel, keep_alive)),
                                   *g->cancel, state, "loading the model"));
  g->request.cancel = g->cancel->token();

  if (g->stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_stream("text/event-stream", [g](StreamSink& sink) { return g->stream_to(sink); });
    return;
  }
  auto result = g->generator->generate(g->request, [&](std::string_view) {
    g->note_piece();
    return true;
  });
  if (!result.ok()) {
    if (g->cancel->timed_out() || g->cancel->shutting_down())
      throw Rejection(cancellation_error(*g->cancel, state.options));
    throw Rejection(result.error());
  }
  g->account(*result);
  if (result->finish_reason == FinishReason::cancelled)
    throw Rejection(cancellation_error(*g->cancel, state.options));
  if (!result->served_by.empty()) res.set_header("X-Served-By", result->served_by);
  send_json(res, 200, g->whole_response(*result));
}

}  // namespace

void add_generation_routes(Router& router, ServerState& state) {
  router.post("/v1/chat/completions",
              [&state](const HttpRequest& req, HttpResponse& res) { generate(state, req, res, true); });
  router.post("/v1/completions",
              [&state](const HttpRequest& req, HttpResponse& res) { generate(state, req, res, false); });
}

}  // namespace xervo::server
