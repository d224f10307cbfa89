// Ollama's POST /api/chat and POST /api/generate: NDJSON streaming (the default, as in Ollama) or
// one JSON answer, onto the same GeneratorModel calls as the OpenAI routes. Durations are measured
// here: load_duration is getting the model's handle (a load when it was not loaded),
// prompt_eval_duration runs from the start of the generation to its first delta (the prompt's
// evaluation and the first step, plus any wait in the model's queue), eval_duration from there to the
// end. An empty `messages` (chat) or `prompt` (generate) loads the model, or with keep_alive 0
// unloads it, as Ollama does.
#include "core/log.h"
#include "server/json_fields.h"
#include "server/ollama_api.h"

namespace xervo::server::ollama {
namespace {

using Clock = std::chrono::steady_clock;

struct Timings {
  Clock::time_point request_start;
  Clock::duration load{};
  Clock::time_point generate_start{};
  std::optional<Clock::time_point> first_delta;

  nlohmann::json fields(const Usage& usage) const {
    const auto end = Clock::now();
    const auto first = first_delta.value_or(end);
    return {{"total_duration", nanos(end - request_start)},
            {"load_duration", nanos(load)},
            {"prompt_eval_count", usage.prompt_tokens},
            {"prompt_eval_duration", nanos(first - generate_start)},
            {"eval_count", usage.completion_tokens},
            {"eval_duration", nanos(end - first)}};
  }
};

// One chat or generate request, parsed and admitted; shared by the handler and the stream function.
struct Generation {
  ServerState& state;
  bool chat = true;
  bool stream = true;
  std::string model;  // as the client named it, echoed back
  GenerateRequest request;
  AdmittedModel admitted;
  std::shared_ptr<GeneratorModel> generator;
  std::unique_ptr<CancellationTracker::Handle> cancel;
  Timings t;

  explicit Generation(ServerState& s) : state(s) {}

  nlohmann::json envelope() const { return {{"model", model}, {"created_at", now_rfc3339()}}; }

  void note_delta() {
    if (t.first_delta) return;
    t.first_delta = Clock::now();
    state.metrics.observe_first_token(
        admitted.spec.alias, std::chrono::duration<double>(*t.first_delta - t.generate_start).count());
  }

  // Time per output token after the first (xervo_time_per_output_token_seconds).
  void note_pace(const Usage& usage) const {
    if (!t.first_delta || usage.cached || usage.completion_tokens < 2) return;
    const double span = std::chrono::duration<double>(Clock::now() - *t.first_delta).count();
    state.metrics.observe_time_per_output_token(admitted.spec.alias,
                                                span / static_cast<double>(usage.completion_tokens - 1));
  }

  // The text part of a line: chat's message, generate's response (and their thinking).
  void put_text(nlohmann::json& line, std::string_view content, std::string_view thinking) const {
    if (chat) {
      nlohmann::json message = {{"role", "assistant"}, {"content", std::string(content)}};
      if (!thinking.empty()) message["thinking"] = std::string(thinking);
      line["message"] = std::move(message);
    } else {
      line["response"] = std::string(content);
      if (!thinking.empty()) line["thinking"] = std::string(thinking);
    }
  }

  nlohmann::json delta_line(const GenerateDelta& d) const {
    auto line = envelope();
    put_text(line, d.content, d.reasoning);
    if (request.options.logprobs && !d.logprobs.empty()) line["logprobs"] = logprobs_json(d.logprobs);
    line["done"] = false;
    return line;
  }

  nlohmann::json tool_calls_json(const std::vector<ToolCall>& calls) const {
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < calls.size(); ++i) out.push_back(tool_call_json(calls[i], i));
    return out;
  }

  // The last line of a stream (no text), or the whole answer.
  nlohmann::json final_line(const GenerateResult& r, bool whole) const {
    auto line = envelope();
    put_text(line, whole ? r.text : std::string(), whole ? r.reasoning : std::string());
    if (whole && chat && !r.tool_calls.empty()) line["message"]["tool_calls"] = tool_calls_json(r.tool_calls);
    if (whole && request.options.logprobs) line["logprobs"] = logprobs_json(r.logprobs);
    line["done"] = true;
    line["done_reason"] = done_reason(r.finish_reason);
    line.update(t.fields(r.usage));
    return line;
  }

  Result<GenerateResult> run(const DeltaCallback& on_delta) {
    t.generate_start = Clock::now();
    return generator->generate_deltas(request, on_delta);
  }

  // Runs the whole stream into `sink`; false when the client went away (the generation is cancelled).
  bool stream_to(StreamSink& sink) {
    bool alive = true;
    auto send = [&](const nlohmann::json& line) { return alive = alive && sink.write(ndjson(line)); };
    auto result = run([&](const GenerateDelta& d) {
      if (d.choice != 0) return alive;
      note_delta();
      // Tool calls go out whole once the answer is parsed (Ollama's shape), not in pieces.
      if (d.content.empty() && d.reasoning.empty() && d.logprobs.empty()) return alive;
      return send(delta_line(d));
    });
    if (!alive) {
      cancel->cancel();
      spdlog::info("[{}] client disconnected; generation cancelled", current_request().request_id);
      return false;
    }
    if (!result.ok()) return send(error_json(result.error()));
    record_usage(state, result->usage.prompt_tokens, result->usage.completion_tokens);
    note_pace(result->usage);
    if (result->finish_reason == FinishReason::cancelled)
      return send(error_json(cancel->error(state.options.request_timeout, "the generation")));
    if (chat && !result->tool_calls.empty()) {
      auto line = envelope();
      put_text(line, "", "");
      line["message"]["tool_calls"] = tool_calls_json(result->tool_calls);
      line["done"] = false;
      send(line);
    }
    return send(final_line(*result, false));
  }

  void answer_whole(HttpResponse& res) {
    auto result = run([&](const GenerateDelta& d) {
      if (d.choice == 0) note_delta();
      return true;
    });
    if (!result.ok()) {
      if (cancel->timed_out() || cancel->shutting_down())
        throw Rejection(cancel->error(state.options.request_timeout, "the generation"));
      throw Rejection(result.error());
    }
    record_usage(state, result->usage.prompt_tokens, result->usage.completion_tokens);
    note_pace(result->usage);
    if (result->finish_reason == FinishReason::cancelled)
      throw Rejection(cancel->error(state.options.request_timeout, "the generation"));
    if (!result->served_by.empty()) res.set_header("X-Served-By", result->served_by);
    send_json(res, 200, final_line(*result, true));
  }
};

// An empty chat or prompt: a load or an unload, answered in the shape of the endpoint.
void answer_load(ServerState& state, HttpResponse& res, bool chat, const std::string& asked,
                 const std::string& name, std::optional<std::chrono::milliseconds> keep_alive) {
  const auto start = Clock::now();
  auto admitted = admit_model(state, name, ModelTask::generate);
  auto cancel = track_call(state);
  const std::string_view reason = load_or_unload(state, name, admitted, keep_alive, *cancel);
  nlohmann::json line = {{"model", asked}, {"created_at", now_rfc3339()}};
  if (chat)
    line["message"] = {{"role", "assistant"}, {"content", ""}};
  else
    line["response"] = "";
  line["done"] = true;
  line["done_reason"] = reason;
  line["total_duration"] = nanos(Clock::now() - current_request().start);
  line["load_duration"] = nanos(Clock::now() - start);
  send_json(res, 200, line);
}

void refuse_nonempty(const nlohmann::json& body, const char* field, const std::string& why) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return;
  if ((it->is_string() && it->get<std::string>().empty()) || (it->is_array() && it->empty())) return;
  reject_input(std::string("'") + field + "' is not supported: " + why);
}

// /api/generate's prompt as the request: through the chat template with `system` (Ollama's default),
// or raw. Empty when the prompt is (a load).
bool generate_request(const nlohmann::json& body, GenerateRequest& request) {
  refuse_images(body, "");
  refuse_nonempty(body, "suffix", "xervo does not fill in the middle; send the text before it as the prompt");
  refuse_nonempty(body, "template",
                  "the chat template is the model's own; send raw: true with a formatted prompt");
  refuse_nonempty(body, "context",
                  "xervo returns no context tokens; send the conversation as /api/chat messages");
  refuse_nonempty(body, "tools", "tools are for /api/chat");
  const std::string prompt = optional_string(body, "prompt").value_or("");
  const std::string system = optional_string(body, "system").value_or("");
  const bool raw = optional_bool(body, "raw").value_or(false);
  if (prompt.empty()) return false;
  if (raw) {
    if (!system.empty()) reject_input("'system' cannot be used with raw: true; put it in the prompt");
    request.prompt = prompt;
  } else {
    if (!system.empty()) request.messages.emplace_back("system", system);
    request.messages.emplace_back("user", prompt);
  }
  return true;
}

void generate(ServerState& state, const HttpRequest& req, HttpResponse& res, bool chat) {
  auto& ctx = current_request();
  ctx.route = chat ? "/api/chat" : "/api/generate";
  auto body = parse_json_object(req.body);
  auto g = std::make_shared<Generation>(state);
  g->t.request_start = ctx.start;
  g->chat = chat;
  g->model = requested_model(body);
  const std::string name = runtime_name(state, g->model);
  auto keep_alive = optional_keep_alive(body);
  g->stream = optional_bool(body, "stream").value_or(true);
  bool has_input = false;
  if (chat) {
    g->request.messages = chat_messages(body);
    g->request.tools = tool_definitions(body);
    has_input = !g->request.messages.empty();
  } else {
    has_input = generate_request(body, g->request);
  }
  if (!has_input) return answer_load(state, res, chat, g->model, name, keep_alive);

  g->admitted = admit_model(state, name, ModelTask::generate);
  g->request.options = generation_options(body, state.options, g->admitted.spec);
  g->cancel = track_call(state);
  const auto load_start = Clock::now();
  g->generator = unwrap(stopped_as(state.runtime->generator(name, bounds(*g->cancel, keep_alive)), *g->cancel,
                                   state, "loading the model"));
  g->t.load = Clock::now() - load_start;
  g->request.cancel = g->cancel->token();

  if (!g->stream) return g->answer_whole(res);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_stream("application/x-ndjson", [g](StreamSink& sink) { return g->stream_to(sink); });
}

}  // namespace

void add_generate_routes(Router& router, ServerState& state) {
  router.post("/api/chat",
              [&state](const HttpRequest& req, HttpResponse& res) { generate(state, req, res, true); });
  router.post("/api/generate",
              [&state](const HttpRequest& req, HttpResponse& res) { generate(state, req, res, false); });
}

}  // namespace xervo::server::ollama
