// Ollama's API on xervo's server: registration of every /api/ route, Ollama's error shape, the
// load/unload of input-less requests, and the embedding routes POST /api/embed and the older
// POST /api/embeddings.
#include "server/json_fields.h"
#include "server/ollama_api.h"

namespace xervo::server {
namespace ollama {
namespace {

using Clock = std::chrono::steady_clock;

bool is_loaded(const ServerState& state, const ModelSpec& spec) {
  const std::string key = make_model_key(spec).to_string();
  for (const auto& r : state.runtime->models())
    if (r.key.to_string() == key && r.state == ModelState::loaded) return true;
  return false;
}

// Takes (and at once releases) a handle of the model's task: a load when it is not loaded.
Result<void> touch(ModelRuntime& runtime, const std::string& name, ModelTask task,
                   const AcquireOptions& options) {
  auto done = [](const auto& handle) -> Result<void> {
    if (!handle.ok()) return handle.error();
    return {};
  };
  switch (task) {
    case ModelTask::embed:
      return done(runtime.embedding(name, options));
    case ModelTask::rerank:
      return done(runtime.reranker(name, options));
    case ModelTask::generate:
      return done(runtime.generator(name, options));
    case ModelTask::transcribe:
      return done(runtime.transcriber(name, options));
  }
  return {};
}

// /api/embed's `input`: a string or an array of strings; absent, "" or [] is a load.
std::vector<std::string> embed_inputs(const nlohmann::json& body, size_t max_inputs) {
  auto it = body.find("input");
  if (it == body.end() || it->is_null()) return {};
  if (it->is_string()) {
    if (it->get<std::string>().empty()) return {};
    return {it->get<std::string>()};
  }
  if (!it->is_array())
    reject_input("'input' must be a string or an array of strings, not " + json_type_name(*it));
  if (it->size() > max_inputs)
    reject_input("'input' has " + std::to_string(it->size()) + " items; this server accepts at most " +
                 std::to_string(max_inputs) + " per request (max_inputs)");
  std::vector<std::string> inputs;
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& v = (*it)[i];
    if (!v.is_string() || v.get<std::string>().empty())
      reject_input("'input[" + std::to_string(i) + "]' must be a non-empty string");
    inputs.push_back(v.get<std::string>());
  }
  return inputs;
}

void embed(ServerState& state, const HttpRequest& req, HttpResponse& res, bool legacy) {
  auto& ctx = current_request();
  ctx.route = legacy ? "/api/embeddings" : "/api/embed";
  auto body = parse_json_object(req.body);
  const std::string asked = requested_model(body);
  const std::string name = runtime_name(state, asked);
  auto keep_alive = optional_keep_alive(body);
  std::vector<std::string> inputs;
  EmbedOptions options;
  if (legacy) {
    if (auto prompt = optional_string(body, "prompt"); prompt && !prompt->empty()) inputs.push_back(*prompt);
    options.truncate = true;  // Ollama's /api/embeddings cuts long prompts to the context
  } else {
    inputs = embed_inputs(body, state.options.max_inputs);
    options.truncate = optional_bool(body, "truncate").value_or(true);  // Ollama's default
    if (auto d = optional_int(body, "dimensions", 1, 65536)) options.dimensions = static_cast<int>(*d);
  }

  auto admitted = admit_model(state, name, ModelTask::embed);
  check_embedding_options(body, admitted.spec);
  auto cancel = track_call(state);
  const auto load_start = Clock::now();
  if (inputs.empty()) {
    load_or_unload(state, name, admitted, keep_alive, *cancel);
    if (legacy) return send_json(res, 200, {{"embedding", nlohmann::json::array()}});
    return send_json(res, 200,
                     {{"model", asked},
                      {"embeddings", nlohmann::json::array()},
                      {"total_duration", nanos(Clock::now() - ctx.start)},
                      {"load_duration", nanos(Clock::now() - load_start)},
                      {"prompt_eval_count", 0}});
  }
  auto handle = unwrap(stopped_as(state.runtime->embedding(name, bounds(*cancel, keep_alive)), *cancel, state,
                                  "loading the model"));
  const auto load = Clock::now() - load_start;
  options.cancel = cancel->token();
  auto result = unwrap(stopped_as(handle->embed(inputs, options), *cancel, state, "the embedding request"));
  if (options.dimensions)
    for (const auto& v : result.vectors)
      if (v.size() != static_cast<size_t>(*options.dimensions))
        throw Rejection(Error(ErrorCode::invalid_input, "'dimensions' is not supported by '" +
                                                            admitted.spec.alias + "' (its vectors have " +
                                                            std::to_string(v.size()) + " dimensions)"));
  record_usage(state, result.usage.prompt_tokens, 0);
  if (!result.served_by.empty()) res.set_header("X-Served-By", result.served_by);
  if (legacy) return send_json(res, 200, {{"embedding", result.vectors.at(0)}});
  send_json(res, 200,
            {{"model", asked},
             {"embeddings", result.vectors},
             {"total_duration", nanos(Clock::now() - ctx.start)},
             {"load_duration", nanos(load)},
             {"prompt_eval_count", result.usage.prompt_tokens}});
}

}  // namespace

std::string_view load_or_unload(ServerState& state, const std::string& name, const AdmittedModel& admitted,
                                std::optional<std::chrono::milliseconds> keep_alive,
                                const CancellationTracker::Handle& cancel) {
  const bool unload = keep_alive && keep_alive->count() == 0;
  if (unload && !is_loaded(state, admitted.spec)) return "unload";
  auto touched = stopped_as(touch(*state.runtime, name, admitted.spec.task, bounds(cancel, keep_alive)),
                            cancel, state, "loading the model");
  if (!touched.ok()) throw Rejection(touched.error());
  // Keep-alive 0: the handle just released made the model due; unload it before answering.
  if (unload) state.runtime->expire_idle();
  return unload ? "unload" : "load";
}

void add_embed_routes(Router& router, ServerState& state) {
  router.post("/api/embed",
              [&state](const HttpRequest& req, HttpResponse& res) { embed(state, req, res, false); });
  router.post("/api/embeddings",
              [&state](const HttpRequest& req, HttpResponse& res) { embed(state, req, res, true); });
}

}  // namespace ollama

void add_ollama_routes(Router& router, ServerState& state) {
  ollama::add_model_routes(router, state);
  ollama::add_generate_routes(router, state);
  ollama::add_embed_routes(router, state);
  ollama::add_library_routes(router, state);
}

void to_ollama_error(HttpResponse& res) {
  if (res.streamed() || res.status < 400) return;
  auto body = nlohmann::json::parse(res.body, nullptr, false);
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) return;
  const auto& error = body["error"];
  const std::string message = error.contains("message") && error["message"].is_string()
                                  ? error["message"].get<std::string>()
                                  : std::string("request failed with status ") + std::to_string(res.status);
  res.set_content(
      nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      "application/json");
}

}  // namespace xervo::server
