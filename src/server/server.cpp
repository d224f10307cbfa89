// Server: binds, wires the routes and the cross-cutting steps every request goes through
// (request id, CORS, shutdown refusal, authentication, rate limit, access log, metrics), and
// shuts down gracefully.
#include "xervo/server.h"

#include <fmt/format.h>

#include <csignal>
#include <random>
#include <set>

#include "cluster/cluster.h"
#include "core/log.h"
#include "server/anthropic_json.h"
#include "server/model_policy.h"
#include "server/server_state.h"
#include "server/websocket_routes.h"

namespace xervo {
namespace server {
namespace {

struct RouteInfo {
  std::string label;  // bounded set of values: a metrics label
  bool needs_auth = true;
  Scope scope = Scope::inference;
  bool rate_limited = true;
  bool x_api_key = false;  // also takes the key as `x-api-key` (Anthropic's clients send it so)
};

RouteInfo classify(const std::string& path) {
  if (path == "/health") return {"/health", false, Scope::inference, false};
  // The dashboard's files hold no data; whoami authenticates by itself (any scope will do).
  if (is_dashboard_path(path)) return {"/dashboard", false, Scope::inference, false};
  if (path == "/v1/auth/whoami") return {path, false, Scope::inference, true};
  if (path == "/ready" || path == "/metrics") return {path, true, Scope::metrics, false};
  // Every /v1/runtime/ path needs the admin scope, known or not.
  if (path.starts_with("/v1/runtime/")) {
    static const std::set<std::string> kRuntime{
        "/v1/runtime/models",      "/v1/runtime/models/load",     "/v1/runtime/models/unload",
        "/v1/runtime/models/pin",  "/v1/runtime/models/unpin",    "/v1/runtime/models/keep_alive",
        "/v1/runtime/models/swap", "/v1/runtime/models/rollback", "/v1/runtime/reload",
        "/v1/runtime/events",      "/v1/runtime/cache",           "/v1/runtime/cache/clear",
        "/v1/runtime/requests",    "/v1/runtime/devices"};
    return {kRuntime.count(path) ? path : "other", true, Scope::admin, false};
  }
  // Ollama's API: pulling and deleting library models take the library scope (ollama_library.cpp).
  if (path == "/api/pull" || path == "/api/delete") return {path, true, Scope::library, false};
  if (path.starts_with("/v1/library/")) {
    std::string label =
        path == "/v1/library/search" || path == "/v1/library/import" || path == "/v1/library/verify" ? path
        : path.starts_with("/v1/library/models/") ? "/v1/library/models/{id}"
                                                  : "other";
    return {label, true, Scope::library, false};
  }
  if (is_anthropic_path(path)) {
    bool known = path == "/v1/messages" || path == "/v1/messages/count_tokens";
    return {known ? path : "other", true, Scope::inference, true, true};
  }
  if (path.starts_with("/v1/files") || path.starts_with("/v1/batches")) {
    bool collection = path == "/v1/files" || path == "/v1/batches";
    return {collection                       ? path
            : path.starts_with("/v1/files/") ? "/v1/files/{id}"
                                             : "/v1/batches/{id}",
            true, Scope::batch, true};
  }
  if (path == "/v1/audio/transcriptions") return {path, true, Scope::inference, true};
  static const std::set<std::string> kInference{"/v1/models",      "/v1/embeddings", "/v1/chat/completions",
                                                "/v1/completions", "/v1/rerank",     "/rerank",
                                                "/v1/reranking",   "/v1/ws"};
  return {
      kInference.count(path) ? (path == "/rerank" || path == "/v1/reranking" ? "/v1/rerank" : path) : "other",
      true, Scope::inference, true};
}

bool sane_request_id(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' && c != ':')
      return false;
  return true;
}

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t v = rng();
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) id[i] = kHex[v & 0xf];
  return id;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

bool origin_allowed(const ServerOptions& o, const std::string& origin) {
  for (const auto& allowed : o.cors_origins)
    if (allowed == "*" || allowed == origin) return true;
  return false;
}

void send_status_error(HttpResponse& res, int status, std::string_view type, std::string_view code,
                       const std::string& message) {
  res.status = status;
  nlohmann::json body = {
      {"error", {{"message", message}, {"type", type}, {"code", code}, {"param", nullptr}}}};
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

enum class HandlerResponse { Handled, Unhandled };

// The principal of a request: `Authorization: Bearer KEY|JWT`, or on the routes that take it
// `x-api-key: KEY`. A browser's WebSocket cannot send headers: on /v1/ws the key may come as a
// subprotocol. The principal must hold the route's scope.
Result<std::shared_ptr<const Principal>> authorize(const ServerState& state, const HttpRequest& req,
                                                   const RouteInfo& route,
                                                   const std::optional<IpAddress>& client) {
  Result<std::shared_ptr<const Principal>> who = Error(ErrorCode::unauthorized, "");
  std::string bearer = req.header("Authorization");
  if (route.label == kWebSocketPath) {
    who = state.auth->authenticate_bearer(websocket_authorization(req), client);
  } else if (!route.x_api_key || !bearer.empty()) {
    who = state.auth->authenticate_bearer(bearer, client);
  } else if (std::string key = req.header("x-api-key"); key.empty()) {
    return Error(ErrorCode::unauthorized,
                 "this server requires an API key: send 'x-api-key: KEY' or 'Authorization: Bearer KEY'");
  } else {
    who = state.auth->authenticate(key, client);
  }
  if (!who.ok()) return who;
  const Principal& p = **who;
  if (!p.has(route.scope)) {
    current_request().principal = *who;  // known but not allowed: the audit record names who it was
    return Error(ErrorCode::forbidden,
                 (p.kind == "key" ? "API key '" + p.name + "'" : "the token of '" + p.name + "'") +
                     " lacks the '" + std::string(to_string(route.scope)) + "' scope this route needs");
  }
  return who;
}

// Routes whose non-GET requests change the server (load, unload, swap, pin, reload, cache clear, pull,
// delete, import): each is an audit record.
bool audited_route(const RouteInfo& route, const HttpRequest& req) {
  return (route.scope == Scope::admin || route.scope == Scope::library) && req.method != "GET" &&
         req.method != "HEAD" && req.method != "OPTIONS";
}

// Request id, CORS, shutdown refusal, authentication and rate limit; Handled when it answered.
// Cache-Control's request directives, case-insensitive: no-cache skips the lookup, no-store keeps
// nothing. Others (max-age ...) are ignored.
CachePolicy cache_policy(std::string_view header) {
  CachePolicy policy;
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    if (comma == std::string_view::npos) comma = header.size();
    std::string token;
    for (char c : header.substr(pos, comma - pos))
      if (c != ' ' && c != '\t') token += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (token == "no-cache") policy.read = false;
    if (token == "no-store") policy.write = false;
    pos = comma + 1;
  }
  return policy;
}

HandlerResponse pre_route(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto& ctx = current_request();
  ctx = RequestContext{};
  ctx.active = true;
  ctx.start = std::chrono::steady_clock::now();
  ctx.span = state.telemetry.start_request_span(req);
  trace::take_queue_wait();  // nothing of an earlier request on this thread
  std::string asked_id = req.header("X-Request-Id");
  ctx.request_id = sane_request_id(asked_id) ? asked_id : new_request_id();
  res.set_header("X-Request-Id", ctx.request_id);
  RouteInfo route = classify(req.path);
  ctx.route = route.label;
  auto client_ip = client_address(req.remote_addr, req.header("X-Forwarded-For"), state.trusted_proxies);
  ctx.client_ip = client_ip ? to_string(*client_ip) : req.remote_addr;
  ctx.client = req.remote_addr;  // the rate-limit bucket without authentication
  if (auto peer = parse_ip(req.remote_addr); client_ip && peer && peer->bytes != client_ip->bytes)
    ctx.client = ctx.client_ip;  // a trusted proxy's client
  ctx.body = req.body;
  ctx.client_gone = req.client_gone;
  ctx.cache = cache_policy(req.header("Cache-Control"));

  const ServerOptions& o = state.options;
  std::string origin = req.header("Origin");
  bool cors = !origin.empty() && origin_allowed(o, origin);
  if (cors) {
    res.set_header("Access-Control-Allow-Origin", origin);
    res.set_header("Vary", "Origin");
    res.set_header("Access-Control-Expose-Headers",
                   "X-Request-Id, Retry-After, X-Served-By, X-Cache, X-Cache-Semantic");
  }
  if (req.method == "OPTIONS") {
    ctx.route = "OPTIONS";
    if (!origin.empty() && !cors) {
      send_status_error(res, 403, "permission_error", "forbidden",
                        "origin '" + origin + "' is not in [server] cors_origins");
      return HandlerResponse::Handled;
    }
    std::string asked = req.header("Access-Control-Request-Headers");
    res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    res.set_header("Access-Control-Allow-Headers",
                   asked.empty() ? "Authorization, Content-Type, X-Request-Id" : asked);
    res.set_header("Access-Control-Max-Age", "600");
    res.set_header("Allow", "GET, POST, OPTIONS");
    res.status = 204;
    return HandlerResponse::Handled;
  }
  // A request that reached routing while the server drains is served: the listener accepts no new
  // connection and closes each one after its exchange, so only requests already sent arrive here,
  // and a load balancer cannot safely retry a POST it already sent (docs/server/scale-out.md).
  // /ready answers 503 from the start of the drain.
  if (route.needs_auth && state.auth->enabled()) {
    trace::Span auth_span = trace::start_span("auth");
    auto who = authorize(state, req, route, client_ip);
    if (!who.ok()) {
      auth_span.set_error(who.error().message());
      const bool forbidden = who.error().code() == ErrorCode::forbidden;
      state.metrics.rejected(forbidden ? "scope" : "auth");
      audit_event(
          state, forbidden ? "access_denied" : "auth_failed",
          {{"method", req.method}, {"path", log_escape(req.path)}, {"reason", who.error().message()}});
      if (!forbidden) res.set_header("WWW-Authenticate", "Bearer");
      send_error(res, who.error());
      return HandlerResponse::Handled;
    }
    const Principal& p = **who;
    ctx.principal = *who;
    ctx.client = p.id();
    ctx.limit.requests_per_minute =
        p.requests_per_minute >= 0 ? p.requests_per_minute : o.requests_per_minute;
    ctx.limit.tokens_per_minute = p.tokens_per_minute >= 0 ? p.tokens_per_minute : o.tokens_per_minute;
  } else {
    ctx.limit = {o.requests_per_minute, o.tokens_per_minute};
  }
  if (route.rate_limited) {
    if (int wait_s = state.limiter.admit(ctx.client, ctx.limit); wait_s > 0) {
      state.metrics.rejected("rate_limit");
      send_error(
          res,
          Error(ErrorCode::rate_limited,
                "rate limit of " + ctx.client + " reached (" + std::to_string(ctx.limit.requests_per_minute) +
                    " requests, " + std::to_string(ctx.limit.tokens_per_minute) +
                    " tokens per minute; 0 = unlimited); retry in " + std::to_string(wait_s) + " s"),
          wait_s);
      return HandlerResponse::Handled;
    }
  }
  return HandlerResponse::Unhandled;
}

// No route for the path, or not for its method.
void route_missing(const HttpRequest& req, HttpResponse& res, Router::Match match,
                   const std::string& allowed) {
  if (match == Router::Match::wrong_method) {
    res.set_header("Allow", allowed);
    send_status_error(res, 405, "invalid_request_error", "method_not_allowed",
                      req.method + " is not allowed on " + req.path + " (allowed: " + allowed + ")");
    return;
  }
  send_status_error(res, 404, "not_found_error", "route_not_found",
                    "no route " + req.method + " " + req.path + "; see GET /v1/models and docs/server.md");
}

void log_request(ServerState& state, const HttpRequest& req, const HttpResponse& res) {
  auto& ctx = current_request();
  ctx.active = false;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.start).count();
  state.metrics.learn_model_labels(*state.runtime);
  state.metrics.observe_request(ctx.route, ctx.model, res.status, seconds);
  record_recent_request(state, req, res.status, seconds);
  if (auto wait = trace::take_queue_wait())
    state.metrics.observe_queue_wait(ctx.model, std::chrono::duration<double>(*wait).count());
  end_request_span(ctx.span, {req.method, ctx.route, ctx.model, ctx.request_id, res.status, ctx.tokens_in,
                              ctx.tokens_out});
  if (state.options.access_log)
    spdlog::info("[{}] {} \"{}\" \"{}\" {} {:.1f} ms client=\"{}\" model=\"{}\" tokens_in={} tokens_out={}",
                 ctx.request_id, log_escape(req.remote_addr), log_escape(req.method), log_escape(req.path),
                 res.status, seconds * 1000.0, log_escape(ctx.client),
                 ctx.model.empty() ? "-" : log_escape(ctx.model), ctx.tokens_in, ctx.tokens_out);
}

}  // namespace

RequestContext& current_request() {
  thread_local RequestContext context;
  return context;
}

void guarded(HttpResponse& res, const std::function<void()>& body) {
  try {
    body();
    return;
  } catch (const Rejection& r) {
    send_error(res, r.error(), r.retry_after_s());
  } catch (const Exception& e) {
    send_error(res, e.error());
  } catch (const nlohmann::json::exception& e) {
    send_error(res, Error(ErrorCode::invalid_input, std::string("malformed request: ") + e.what()));
  } catch (const std::bad_alloc&) {
    send_error(res, Error(ErrorCode::unavailable, "the server ran out of memory for this request"), 5);
  } catch (const std::exception& e) {
    spdlog::error("[{}] unexpected error: {}", current_request().request_id, e.what());
    send_error(res, Error(ErrorCode::internal, "unexpected server error (request " +
                                                   current_request().request_id + "); see the server log"));
  }
  if (res.status >= 500) spdlog::warn("[{}] {}", current_request().request_id, res.body.substr(0, 300));
}

std::unique_ptr<CancellationTracker::Handle> track_call(ServerState& state) {
  return state.cancellations.track(std::chrono::steady_clock::now() + state.options.request_timeout,
                                   current_request().client_gone);
}

void audit_event(ServerState& state, const std::string& event, nlohmann::json fields) {
  if (!state.audit.enabled()) return;
  const auto& ctx = current_request();
  nlohmann::json rec = {{"actor", ctx.principal ? ctx.principal->id() : std::string("anonymous")},
                        {"ip", ctx.client_ip},
                        {"request_id", ctx.request_id},
                        {"route", ctx.route}};
  for (auto& [k, v] : fields.items()) rec[k] = v;
  (void)state.audit.record(event, std::move(rec));
}

void record_cache(int64_t cached, int64_t items, double similarity) {
  auto& ctx = current_request();
  ctx.cache_hits = std::max<int64_t>(ctx.cache_hits, 0) + cached;
  ctx.cache_items += items;
  if (similarity > 0) ctx.cache_similarity = similarity;
}

void record_usage(ServerState& state, int64_t tokens_in, int64_t tokens_out) {
  auto& ctx = current_request();
  ctx.tokens_in += tokens_in;
  ctx.tokens_out += tokens_out;
  state.metrics.add_tokens(ctx.model, tokens_in, tokens_out);
  state.limiter.charge_tokens(ctx.client, ctx.limit, tokens_in + tokens_out);
}

AdmittedModel admit_model(ServerState& state, const std::string& name, ModelTask task) {
  if (name.empty()) reject_input("'model' is empty; see GET /v1/models for the aliases");
  state.metrics.learn_model_labels(*state.runtime);
  // Before the runtime resolves the name: a refused id touches no file and leaves no registry record.
  enforce_model_id_policy(state, name);
  auto spec = unwrap(state.runtime->resolve(name, task));
  current_request().model = spec.alias;
  std::string key = make_model_key(spec).to_string();
  auto ticket = state.admission.try_admit(key, state.options.max_queue_per_model);
  if (!ticket) {
    state.metrics.rejected("queue_full");
    throw Rejection(
        Error(ErrorCode::unavailable, "model '" + log_escape(spec.alias) + "' already has " +
                                          std::to_string(state.options.max_queue_per_model) +
                                          " requests in flight (max_queue_per_model); retry shortly"),
        1);
  }
  return {std::move(spec), std::move(ticket)};
}

}  // namespace server

// ---------------------------------------------------------------------------------------------------
namespace server {
namespace {

// Every request: the cross-cutting steps, the route, then the access log (after a stream ends).
void handle(ServerState& state, const Router& router, HttpRequest& req, HttpResponse& res) {
  // Spans started below descend from the request's span (pre_route puts it in the context).
  trace::ScopedSpan scope(current_request().span);
  if (pre_route(state, req, res) == HandlerResponse::Unhandled) {
    const Router::Handler* handler = nullptr;
    std::string allowed;
    Router::Match match = router.find(req, &handler, &allowed);
    if (match == Router::Match::found)
      guarded(res, [&] { (*handler)(req, res); });
    else
      route_missing(req, res, match, allowed);
    if (audited_route(classify(req.path), req))
      audit_event(state, "admin_action",
                  {{"method", req.method},
                   {"path", log_escape(req.path)},
                   {"status", res.status},
                   {"model", current_request().model}});
  }
  current_request().body = {};
  const auto& ctx = current_request();
  if (ctx.cache_hits >= 0 && !res.streamed() && state.runtime->cache_enabled()) {
    const bool hit = ctx.cache_items > 0 && ctx.cache_hits >= ctx.cache_items;
    res.set_header("X-Cache", hit ? "hit" : "miss");
    if (!hit && ctx.cache_hits > 0)
      res.set_header("X-Cache-Hits", std::to_string(ctx.cache_hits) + "/" + std::to_string(ctx.cache_items));
    if (hit && ctx.cache_similarity > 0)
      res.set_header("X-Cache-Semantic", fmt::format("{:.4f}", ctx.cache_similarity));
  }
  if (is_anthropic_path(req.path)) finish_anthropic_response(res, current_request().request_id);
  if (req.path.starts_with("/api/")) to_ollama_error(res);  // Ollama's API has its own error shape
  if (!res.streamed()) {
    log_request(state, req, res);
    return;
  }
  // The stream runs on this thread after the handler: its spans are the request's too; log once it ends.
  res.stream = [stream = std::move(res.stream)](StreamSink& sink) {
    trace::ScopedSpan in_stream(current_request().span);
    return stream(sink);
  };
  auto end = std::move(res.on_stream_end);
  res.on_stream_end = [&state, &req, &res, end = std::move(end)] {
    if (end) end();
    log_request(state, req, res);
  };
}

// A request the connection layer refused before routing (too large, too slow, too many
// connections): counted, and logged with what the client sent escaped.
void transport_rejected(ServerState& state, const TransportRejection& r) {
  state.metrics.rejected(r.reason);
  if (state.options.access_log)
    spdlog::info("[-] {} {} refused before routing: {} ({})", r.client, r.status, r.reason, r.detail);
}

ListenerOptions listener_options(const ServerOptions& o) {
  ListenerOptions l;
  l.host = o.host;
  l.port = o.port;
  l.reuse_port = o.reuse_port;
  l.io_threads = o.io_threads;
  l.worker_threads = o.threads;
  l.max_header_bytes = o.max_header_bytes;
  l.max_headers = o.max_headers;
  l.max_body_bytes = o.max_body_bytes;
  l.upload_paths = {"/v1/files", "/v1/audio/transcriptions"};  // uploads: max_upload_bytes
  l.upload_body_bytes = o.max_upload_bytes;
  l.header_timeout = o.header_timeout;
  l.keep_alive_timeout = o.keep_alive_timeout;
  l.body_timeout = o.read_timeout;
  l.write_timeout = o.write_timeout;
  l.max_connections = o.max_connections;
  l.max_connections_per_client = o.max_connections_per_client;
  return l;
}

}  // namespace
}  // namespace server

struct Server::Impl {
  std::unique_ptr<server::ServerState> state;  // outlives `listener`: its handlers refer to it
  server::Router router;
  std::unique_ptr<server::HttpListener> listener;
  uint64_t event_subscription = 0;

  std::mutex mu;
  std::condition_variable cv;
  bool stop_started = false;  // GUARDED_BY(mu)
  bool stopped = false;       // GUARDED_BY(mu)
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

int Server::port() const { return impl_->listener->port(); }
const ServerOptions& Server::options() const { return impl_->state->options; }

Result<std::unique_ptr<Server>> Server::start(std::shared_ptr<ModelRuntime> runtime, ServerOptions options) {
  if (!runtime) return Error(ErrorCode::config_invalid, "Server::start needs a runtime");
  if (options.threads < 1) return Error(ErrorCode::config_invalid, "[server] threads must be at least 1");
  if (options.io_threads < 1)
    return Error(ErrorCode::config_invalid, "[server] io_threads must be at least 1");
  if (options.port < 0 || options.port > 65535)
    return Error(ErrorCode::config_invalid, "[server] port must be between 0 and 65535");
  auto proxies = server::parse_cidrs(options.trusted_proxies, "[server] trusted_proxies");
  if (!proxies.ok()) return proxies.error();
  // A client that disconnects must fail a write, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  auto impl = std::make_unique<Impl>();
  impl->state = std::make_unique<server::ServerState>(std::move(runtime), std::move(options));
  auto& state = *impl->state;
  const ServerOptions& o = state.options;
  auto auth = server::Authenticator::create(o, &state.audit);
  if (!auth.ok()) return auth.error();
  if (o.cluster) {  // [cluster]: limits and revocations shared with the other replicas
    state.limiter.share(o.cluster->rate_limits());
    auto* revocations = &o.cluster->revocations();
    (*auth)->share_revocations([revocations](const std::string& h) { return revocations->revoked(h); },
                               [revocations](const std::string& h) { revocations->revoke(h); });
  }
  state.auth = std::move(*auth);
  state.trusted_proxies = std::move(*proxies);
  server::add_openai_routes(impl->router, state);
  server::add_generation_routes(impl->router, state);
  server::add_management_routes(impl->router, state);
  server::add_lifecycle_routes(impl->router, state);
  server::add_library_routes(impl->router, state);
  server::add_cache_routes(impl->router, state);
  server::add_anthropic_routes(impl->router, state);
  server::add_ollama_routes(impl->router, state);
  server::add_batch_routes(impl->router, state);
  server::add_websocket_routes(impl->router, state);
  server::add_dashboard_routes(impl->router, state);
  server::add_auth_routes(impl->router, state);
  server::add_transcription_routes(impl->router, state);
  server::add_device_routes(impl->router, state);

  const server::Router& router = impl->router;
  auto listener = server::HttpListener::start(
      server::listener_options(o),
      [&state, &router](server::HttpRequest& req, server::HttpResponse& res) {
        server::handle(state, router, req, res);
      },
      [&state](const server::TransportRejection& r) { server::transport_rejected(state, r); });
  if (!listener.ok()) return listener.error();
  impl->listener = std::move(*listener);
  server::start_batches(state);
  state.metrics.learn_model_labels(*state.runtime);  // the bounded label set: configured aliases
  impl->event_subscription = state.runtime->subscribe(
      [&state](const ModelEvent& event) { state.metrics.observe_model_event(event); });

  const int port = impl->listener->port();
  const bool auth_on = state.auth->enabled();
  if (!auth_on && !server::is_loopback(o.host)) {
    spdlog::warn("**************************************************************************");
    spdlog::warn("* xervo serve listens on {}:{} WITHOUT authentication.", o.host, port);
    spdlog::warn("* Anyone who can reach this address can use and manage your models.");
    spdlog::warn("* Add keys under [server.auth] (see `xervo serve hash-key --generate`).");
    spdlog::warn("**************************************************************************");
  }
  spdlog::info("xervo serve listening on http://{}:{} ({} workers, auth {})", o.host, port, o.threads,
               auth_on ? "on" : "off");
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::stop() {
  auto& impl = *impl_;
  {
    std::unique_lock lock(impl.mu);
    if (impl.stop_started) {
      impl.cv.wait(lock, [&] { return impl.stopped; });
      return;
    }
    impl.stop_started = true;
  }
  auto& state = *impl.state;
  impl.listener->stop_accepting();  // first: new connections go to the other replicas at once
  state.stopping = true;
  server::stop_batches(state);  // running lines are cancelled and run again after a restart
  if (!impl.listener->wait_idle(std::chrono::steady_clock::now() + state.options.shutdown_grace)) {
    spdlog::warn("shutdown grace of {} s over; cancelling {} running call(s)",
                 state.options.shutdown_grace.count(), state.cancellations.size());
    state.cancellations.cancel_all();
    // Cancelled calls answer (503) quickly; give their responses a moment to go out.
    impl.listener->wait_idle(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  }
  impl.listener->close();
  state.telemetry.stop();  // what is queued goes out (within export_timeout_ms)
  state.runtime->unsubscribe(impl.event_subscription);
  if (state.options.unload_models_on_stop) state.runtime->shutdown();  // unload reason `shutdown`
  spdlog::info("xervo serve stopped");
  {
    std::lock_guard lock(impl.mu);
    impl.stopped = true;
  }
  impl.cv.notify_all();
}

void Server::wait() {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->stopped; });
}

}  // namespace xervo
