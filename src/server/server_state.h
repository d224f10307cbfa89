// What every route of one Server shares: the runtime, the options and the server's own services
// (auth, rate limits, metrics, admission, cancellation), plus the per-request context that the
// pre-routing hook, the handler and the access logger of one request fill in turn. Each member
// is thread-safe on its own; the options are immutable after start.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "server/admission.h"
#include "server/api_error.h"
#include "server/audit_log.h"
#include "server/auth.h"
#include "server/cancellation.h"
#include "server/http_listener.h"
#include "server/http_message.h"
#include "server/metrics.h"
#include "server/rate_limiter.h"
#include "server/router.h"
#include "server/telemetry.h"
#include "xervo/runtime.h"
#include "xervo/server.h"

namespace xervo::server {

class BatchService;    // batch_routes.cpp
class RecentRequests;  // dashboard_activity.h

// The request a worker thread is serving. The listener runs the pre-routing steps, the handler, a
// streamed response's writer and the access log of one request on one worker thread, so a
// thread_local carries it between them.
struct RequestContext {
  bool active = false;  // set by pre-routing
  std::string request_id;
  std::chrono::steady_clock::time_point start;
  std::string route = "other";  // the route pattern, a bounded metrics label
  std::string model;            // alias or model id the request was served by
  std::string
      client;  // "key:NAME" / "jwt:SUBJECT", or the client address without auth: the rate-limit bucket
  std::string client_ip;  // the client's address (X-Forwarded-For from a trusted proxy), for the audit log
  std::shared_ptr<const Principal> principal;  // who authenticated (null without authentication)
  std::string_view body;  // the request body while the handler runs (audit of refused prompts)
  RateLimit limit;
  std::stop_token client_gone;  // the client closed its connection
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
  CachePolicy cache;            // from the request's Cache-Control (no-cache, no-store)
  int64_t cache_hits = -1;      // answers (embeddings: inputs) the response cache gave; -1: no cached call
  int64_t cache_items = 0;      // of this many
  double cache_similarity = 0;  // a semantic cache hit: its similarity (X-Cache-Semantic)
  trace::Span span;             // the request's server span (telemetry.h): handlers add attributes to it
};
RequestContext& current_request();

// Records what the response cache gave one call (Usage::cached of `items` answers): the response's
// X-Cache header says hit when all came from it, else miss (X-Cache-Hits: k/n for a partial one);
// a semantic hit (Usage::cache_similarity > 0) adds X-Cache-Semantic: its similarity.
void record_cache(int64_t cached, int64_t items, double similarity = 0);

struct ServerState {
  ServerState(std::shared_ptr<ModelRuntime> rt, ServerOptions opts)
      : runtime(std::move(rt)),
        options(std::move(opts)),
        audit(options.audit),
        telemetry(options.telemetry) {}

  std::shared_ptr<ModelRuntime> runtime;
  const ServerOptions options;
  AuditLog audit;
  std::unique_ptr<const Authenticator> auth;  // set by Server::start before any route runs
  std::vector<Cidr> trusted_proxies;          // options.trusted_proxies, parsed
  RateLimiter limiter;
  Metrics metrics;
  ModelAdmission admission;
  CancellationTracker cancellations;
  Telemetry telemetry;
  std::atomic<bool> stopping{false};
  std::shared_ptr<BatchService> batch;              // the Batch API (add_batch_routes)
  std::shared_ptr<RecentRequests> recent_requests;  // the dashboard's Activity list (add_dashboard_routes)
  const std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
};

// Runs `body` with the server's error handling: a Rejection or xervo::Exception becomes its error
// response, malformed JSON access a 400, anything else a 500 naming the request id.
void guarded(HttpResponse& res, const std::function<void()>& body);

// The spec `name` resolves to for `task`, admitted to its model's queue: rejects with 404
// (unknown), 400 (wrong task) or 503 + Retry-After (queue full). Records the model in the context.
struct AdmittedModel {
  ModelSpec spec;
  std::shared_ptr<ModelAdmission::Ticket> ticket;
};
AdmittedModel admit_model(ServerState& state, const std::string& name, ModelTask task);

// Records the tokens a request used: its context (access log), the metrics, and its client's token
// bucket (charged now, before the response goes out, so the client's next request sees it).
void record_usage(ServerState& state, int64_t tokens_in, int64_t tokens_out);

// Records an audit event for the current request: `fields` plus who (actor), from where (ip), the
// request id and the route (audit_log.h). No-op without an audit log.
void audit_event(ServerState& state, const std::string& event, nlohmann::json fields);

// Unwraps a Result or rejects with its error.
template <typename T>
T unwrap(Result<T> result) {
  if (!result.ok()) throw Rejection(result.error());
  return std::move(result).value();
}

// A call's cancellation: its deadline (request_timeout) and the client leaving both stop it.
std::unique_ptr<CancellationTracker::Handle> track_call(ServerState& state);

// Getting a handle within the call's bounds: a lazy load, a wait for another caller's load and a
// library pull stop with the call (the tracker turns the deadline into a stop request). The deadline
// goes to the runtime too, so that a load waiting for memory ends as insufficient_memory (naming what
// holds it) rather than as a bare cancellation. `keep_alive` is the request's own (Ollama's
// semantics; optional_keep_alive() in json_fields.h reads it).
inline AcquireOptions bounds(const CancellationTracker::Handle& cancel,
                             std::optional<std::chrono::milliseconds> keep_alive = std::nullopt) {
  AcquireOptions options;
  options.cancel = cancel.token();
  options.deadline = cancel.deadline();
  options.keep_alive = keep_alive;
  options.cache = current_request().cache;
  return options;
}

// A call that ended cancelled because of its deadline, a shutdown or the client leaving gets that
// reason's error (504, 503, cancelled).
template <typename T>
Result<T> stopped_as(Result<T> result, const CancellationTracker::Handle& cancel, const ServerState& state,
                     std::string_view what) {
  if (!result.ok() && result.error().code() == ErrorCode::cancelled)
    return cancel.error(state.options.request_timeout, what);
  return result;
}

void add_openai_routes(Router& router, ServerState& state);
void add_generation_routes(Router& router, ServerState& state);
void add_management_routes(Router& router, ServerState& state);
void add_lifecycle_routes(Router& router, ServerState& state);
void add_library_routes(Router& router, ServerState& state);
void add_cache_routes(Router& router, ServerState& state);
void add_transcription_routes(Router& router, ServerState& state);
// GET /v1/runtime/devices (device_routes.cpp), and the same list as JSON.
void add_device_routes(Router& router, ServerState& state);
nlohmann::json devices_json(ModelRuntime& runtime);

// The response cache's counters as Prometheus series (zeros when the cache is off: the names stay);
// as JSON: core/cache_stats_json.h.
std::string cache_metrics(const CacheStats& stats);
void add_anthropic_routes(Router& router, ServerState& state);
void add_ollama_routes(Router& router, ServerState& state);
// Rewrites an error answer of an /api/ route into Ollama's shape {"error": MESSAGE} (ollama_routes.cpp).
void to_ollama_error(HttpResponse& res);
// The Batch API's routes and its runner; the runner starts with start_batches() (once every route
// is registered: it dispatches through the router) and ends with stop_batches().
void add_batch_routes(Router& router, ServerState& state);
void start_batches(ServerState& state);
void stop_batches(ServerState& state);
// The web dashboard's page and files (no authentication: they hold no data) and its recent-requests
// list; record_recent_request() adds an answered request to that list (dashboard_routes.cpp).
bool is_dashboard_path(std::string_view path);
void add_dashboard_routes(Router& router, ServerState& state);
void record_recent_request(ServerState& state, const HttpRequest& req, int status, double seconds);
// GET /v1/auth/whoami: the credential's principal and scopes (auth_routes.cpp).
void add_auth_routes(Router& router, ServerState& state);

}  // namespace xervo::server
