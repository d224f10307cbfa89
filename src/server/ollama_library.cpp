// Ollama's POST /api/pull and DELETE /api/delete over the model library (admin scope: see classify()
// in server.cpp). A pull takes a Hugging Face Hub ref ("ORG/REPO[:QUANT]", "hf:" optional) and
// reports the library's own download progress as Ollama's progress lines; a stopped or failed pull
// keeps what it downloaded for the next one. Delete removes a library model (never an alias) and
// unloads it.
#include <algorithm>

#include "core/log.h"
#include "server/json_fields.h"
#include "server/model_policy.h"
#include "server/ollama_api.h"

#if XERVO_HAVE_LIBRARY
#include "xervo/library.h"
#endif

namespace xervo::server::ollama {
namespace {

[[noreturn]] void no_library() {
  throw Rejection(Error(ErrorCode::unavailable,
                        "this server has no model library: xervo serve opens the one of [library] in "
                        "xervo.toml (docs/library.md)"));
}

#if XERVO_HAVE_LIBRARY
// The Hub ref an Ollama pull names: "hf:" and Ollama's ":latest" dropped (the library picks the
// default quantization), anything with control characters or over the id limit refused.
std::string hub_ref(const std::string& model) {
  if (model.size() > kMaxModelIdBytes || std::any_of(model.begin(), model.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      }))
    reject_input("'model' must be a Hub ref such as ORG/REPO or ORG/REPO:Q4_K_M");
  std::string ref = model.starts_with("hf:") ? model.substr(3) : model;
  if (ref.ends_with(":latest")) ref.resize(ref.size() - 7);
  if (ref.find('/') == std::string::npos)
    reject_input("'" + log_escape(model) +
                 "' is not a Hub ref: xervo pulls from the Hugging Face Hub, as ORG/REPO or ORG/REPO:QUANT");
  return ref;
}

// Progress lines as the library reports them, thinned to one per thousandth of the total (and each
// new file), so a fast download does not flood the client.
class ProgressLines {
 public:
  explicit ProgressLines(StreamSink& sink) : sink_(sink) {}

  bool send(const nlohmann::json& line) { return alive_ = alive_ && sink_.write(ndjson(line)); }
  bool alive() const { return alive_; }

  void on_progress(const PullProgress& p) {
    const uint64_t permille = p.bytes_total ? p.bytes_done * 1000 / p.bytes_total : 0;
    if (p.file == file_ && permille == permille_ && p.bytes_done != p.bytes_total) return;
    file_ = p.file;
    permille_ = permille;
    send({{"status", "pulling " + p.file},
          {"digest", p.file},
          {"total", p.bytes_total},
          {"completed", p.bytes_done}});
  }

 private:
  StreamSink& sink_;
  bool alive_ = true;
  std::string file_;
  uint64_t permille_ = 0;
};

nlohmann::json success_json(const LibraryModel& m) {
  return {{"status", "success"}, {"model", m.id}, {"digest", "sha256:" + m.sha256}};
}

// A pull runs until done, the client leaves or the server shuts down: request_timeout is for
// inference calls, and a large download takes longer.
std::unique_ptr<CancellationTracker::Handle> track_pull(ServerState& state) {
  return state.cancellations.track(CancellationTracker::Clock::time_point::max(),
                                   current_request().client_gone);
}

void pull(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  current_request().route = "/api/pull";
  auto body = parse_json_object(req.body);
  const std::string model = requested_model(body);
  if (optional_bool(body, "insecure").value_or(false))
    reject_input("'insecure' is not supported: the Hub endpoint is [library] hub_endpoint in xervo.toml");
  const bool stream = optional_bool(body, "stream").value_or(true);
  if (!state.options.library) no_library();
  const std::string ref = hub_ref(model);
  auto library = state.options.library;
  auto cancel = std::shared_ptr<CancellationTracker::Handle>(track_pull(state));
  spdlog::info("[{}] pull of \"{}\" requested by \"{}\"", current_request().request_id, log_escape(ref),
               log_escape(current_request().client));
  if (!stream) {
    auto m = unwrap(stopped_as(library->pull(ref, {}, cancel->token()), *cancel, state, "the pull"));
    current_request().model = m.id;
    return send_json(res, 200, success_json(m));
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_stream("application/x-ndjson", [&state, library, cancel, ref](StreamSink& sink) {
    ProgressLines lines(sink);
    if (!lines.send({{"status", "pulling manifest"}})) return false;
    auto m = library->pull(
        ref,
        [&](const PullProgress& p) {
          lines.on_progress(p);
          if (!lines.alive()) cancel->cancel();
        },
        cancel->token());
    if (!lines.alive()) return false;
    if (!m.ok()) return lines.send(error_json(stopped_as(std::move(m), *cancel, state, "the pull").error()));
    return lines.send(success_json(*m));
  });
}

bool configured(const ServerState& state, const std::string& name) {
  for (const auto& spec : state.runtime->specs())
    if (spec.alias == name) return true;
  return false;
}

void remove(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  current_request().route = "/api/delete";
  auto body = parse_json_object(req.body);
  const std::string model = requested_model(body);
  if (!state.options.library) no_library();
  const std::string name = runtime_name(state, model);
  if (configured(state, name))
    reject_input("'" + log_escape(model) +
                 "' is an alias of xervo.toml: remove it from the config (and reload), not with /api/delete");
  auto id = library_id(state, name);
  if (!id)
    throw Rejection(Error(ErrorCode::model_not_found,
                          "no library model '" + log_escape(model) + "'; GET /api/tags lists them"));
  auto found = unwrap(state.options.library->get(*id));
  current_request().model = found.id;
  if (auto removed = state.options.library->remove(found.id); !removed.ok()) throw Rejection(removed.error());
  // A loaded copy goes too (calls running on it finish first).
  for (const auto& r : state.runtime->models())
    if (r.key.model == "library:" + found.id) (void)state.runtime->unload(r.key.to_string());
  spdlog::info("[{}] library model \"{}\" deleted by \"{}\"", current_request().request_id,
               log_escape(found.id), log_escape(current_request().client));
  send_json(res, 200, {{"status", "success"}});
}
#else
void pull(ServerState&, const HttpRequest&, HttpResponse&) { no_library(); }
void remove(ServerState&, const HttpRequest&, HttpResponse&) { no_library(); }
#endif

}  // namespace

void add_library_routes(Router& router, ServerState& state) {
  router.post("/api/pull", [&state](const HttpRequest& req, HttpResponse& res) { pull(state, req, res); });
  router.add("DELETE", "/api/delete",
             [&state](const HttpRequest& req, HttpResponse& res) { remove(state, req, res); });
}

}  // namespace xervo::server::ollama
