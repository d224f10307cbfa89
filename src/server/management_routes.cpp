// Health, readiness and metrics (/health, /ready, /metrics) and the runtime management routes:
// GET /v1/runtime/models, POST /v1/runtime/models/load and /unload, GET /v1/runtime/events (SSE).
// Pin, keep-alive, swap, rollback and reload are in lifecycle_routes.cpp.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "cluster/cluster.h"
#include "core/log.h"
#include "server/json_fields.h"
#include "server/runtime_json.h"
#include "server/server_state.h"

namespace xervo::server {
namespace {

void runtime_models(ServerState& state, HttpResponse& res) {
  send_json(res, 200, runtime_json(*state.runtime));
}

void load_model(ServerState& state, const HttpRequest& req, HttpResponse& res, bool load) {
  current_request().route = load ? "/v1/runtime/models/load" : "/v1/runtime/models/unload";
  auto body = parse_json_object(req.body);
  std::string model = require_string(body, "model");
  auto keep_alive = load ? optional_keep_alive(body) : std::nullopt;
  current_request().model = model;
  if (load) {
    // Aliases only: an admin's load touches no file by a name the config does not hold.
    auto specs = state.runtime->specs();
    if (std::none_of(specs.begin(), specs.end(), [&](const ModelSpec& s) { return s.alias == model; }))
      throw Rejection(
          Error(ErrorCode::alias_not_found,
                "no alias '" + log_escape(model) + "' in the config; /v1/runtime/models/load takes aliases"));
    auto cancel = track_call(state);
    auto r = stopped_as(state.runtime->load(model, bounds(*cancel, keep_alive)), *cancel, state,
                        "loading the model");
    if (!r.ok()) throw Rejection(r.error());
  } else {
    auto r = state.runtime->unload(model);
    if (!r.ok()) throw Rejection(r.error());
  }
  send_json(res, 200, {{"model", model}, {"state", load ? "loaded" : "unloaded"}});
}

// One subscriber of the lifecycle events, feeding one SSE connection.
struct EventStream {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> pending;  // GUARDED_BY(mu): formatted SSE messages
  bool overflowed = false;          // GUARDED_BY(mu): a slow client fell too far behind
};

constexpr size_t kMaxPendingEvents = 1024;

void stream_events(ServerState& state, HttpResponse& res) {
  current_request().route = "/v1/runtime/events";
  auto stream = std::make_shared<EventStream>();
  std::weak_ptr<EventStream> weak = stream;
  uint64_t sub = state.runtime->subscribe([weak](const ModelEvent& event) {
    auto s = weak.lock();
    if (!s) return;
    std::string text = "event: " + std::string(to_string(event.kind)) + "\ndata: " +
                       event_json(event).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                       "\n\n";
    {
      std::lock_guard lock(s->mu);
      if (s->pending.size() >= kMaxPendingEvents)
        s->overflowed = true;
      else
        s->pending.push_back(std::move(text));
    }
    s->cv.notify_one();
  });
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  auto* runtime = state.runtime.get();
  res.set_stream(
      "text/event-stream",
      [&state, stream](StreamSink& sink) {
        static constexpr std::string_view kHello = ": xervo runtime events\n\n";
        if (!sink.write(kHello)) return false;
        auto last_write = std::chrono::steady_clock::now();
        while (!state.stopping.load()) {
          std::deque<std::string> batch;
          bool overflowed = false;
          {
            std::unique_lock lock(stream->mu);
            // Wakes every second to notice a shutdown; a comment every 15 s keeps proxies from closing.
            stream->cv.wait_for(lock, std::chrono::seconds(1),
                                [&] { return !stream->pending.empty() || stream->overflowed; });
            batch.swap(stream->pending);
            overflowed = stream->overflowed;
          }
          if (overflowed) break;
          for (const auto& text : batch)
            if (!sink.write(text)) return false;
          if (!batch.empty()) last_write = std::chrono::steady_clock::now();
          if (std::chrono::steady_clock::now() - last_write > std::chrono::seconds(15)) {
            static constexpr std::string_view kPing = ": ping\n\n";
            if (!sink.write(kPing)) return false;
            last_write = std::chrono::steady_clock::now();
          }
        }
        return true;
      },
      [runtime, sub] { runtime->unsubscribe(sub); });
}

void health(HttpResponse& res) {
  current_request().route = "/health";
  send_json(res, 200, {{"status", "ok"}});
}

void ready(ServerState& state, HttpResponse& res) {
  current_request().route = "/ready";
  if (state.stopping.load()) {
    send_json(res, 503, {{"status", "stopping"}});
    return;
  }
  // Redis being down does not make a replica unready (they would all leave the load balancer at
  // once): it serves with local state, and the body says so.
  nlohmann::json ready = {{"status", "ready"}};
  if (state.options.cluster) ready["cluster"] = state.options.cluster->status_json();
  if (state.runtime->ready()) {
    send_json(res, 200, ready);
    return;
  }
  std::map<std::string, ModelState> states;
  for (const auto& r : state.runtime->models()) states[r.key.to_string()] = r.state;
  nlohmann::json pending = nlohmann::json::array();
  for (const auto& spec : state.runtime->specs()) {
    if (spec.warmup == WarmupPolicy::lazy) continue;
    auto it = states.find(make_model_key(spec).to_string());
    auto s = it == states.end() ? ModelState::unloaded : it->second;
    if (s != ModelState::loaded)
      pending.push_back({{"alias", spec.alias}, {"state", std::string(to_string(s))}});
  }
  res.set_header("Retry-After", "1");
  ready["status"] = "loading";
  ready["pending"] = pending;
  send_json(res, 503, ready);
}

void metrics(ServerState& state, HttpResponse& res) {
  current_request().route = "/metrics";
  res.status = 200;
  res.set_content(
      state.metrics.render(state.runtime->models(), state.runtime->memory(), state.admission.depths()) +
          cache_metrics(state.runtime->cache_stats()) + state.telemetry.metrics() +
          (state.options.cluster ? state.options.cluster->metrics() : std::string()),
      "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace

void add_management_routes(Router& router, ServerState& state) {
  router.get("/health", [](const HttpRequest&, HttpResponse& res) { health(res); });
  router.get("/ready", [&state](const HttpRequest&, HttpResponse& res) { ready(state, res); });
  router.get("/metrics", [&state](const HttpRequest&, HttpResponse& res) { metrics(state, res); });
  router.get("/v1/runtime/models", [&state](const HttpRequest&, HttpResponse& res) {
    current_request().route = "/v1/runtime/models";
    runtime_models(state, res);
  });
  router.post("/v1/runtime/models/load",
              [&state](const HttpRequest& req, HttpResponse& res) { load_model(state, req, res, true); });
  router.post("/v1/runtime/models/unload",
              [&state](const HttpRequest& req, HttpResponse& res) { load_model(state, req, res, false); });
  router.get("/v1/runtime/events",
             [&state](const HttpRequest&, HttpResponse& res) { stream_events(state, res); });
}

}  // namespace xervo::server
