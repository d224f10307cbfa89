// GET /v1/auth/whoami: who the request's credential is and which scopes it holds, so that a client
// (the dashboard) shows only what the key may do. It takes any valid credential, whatever its
// scopes (classify() in server.cpp lets it through unauthenticated; it authenticates here, as
// pre-routing would): 401 for a missing or wrong key, like every other route. Without
// authentication configured, every scope.
#include "server/ip_filter.h"
#include "server/server_state.h"

namespace xervo::server {
namespace {

constexpr Scope kScopes[] = {Scope::inference, Scope::batch, Scope::metrics, Scope::library, Scope::admin};

void whoami(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto& ctx = current_request();
  ctx.route = "/v1/auth/whoami";
  nlohmann::json scopes = nlohmann::json::array();
  if (!state.auth->enabled()) {
    for (Scope s : kScopes) scopes.push_back(std::string(to_string(s)));
    send_json(res, 200, {{"auth", false}, {"kind", nullptr}, {"name", nullptr}, {"scopes", scopes}});
    return;
  }
  auto who = state.auth->authenticate_bearer(req.header("Authorization"), parse_ip(ctx.client_ip));
  if (!who.ok()) {
    state.metrics.rejected(who.error().code() == ErrorCode::forbidden ? "scope" : "auth");
    audit_event(state, "auth_failed",
                {{"method", req.method}, {"path", req.path}, {"reason", who.error().message()}});
    if (who.error().code() != ErrorCode::forbidden) res.set_header("WWW-Authenticate", "Bearer");
    throw Rejection(who.error());
  }
  const Principal& p = **who;
  ctx.principal = *who;
  for (Scope s : kScopes)
    if (p.has(s)) scopes.push_back(std::string(to_string(s)));
  send_json(res, 200,
            {{"auth", true},
             {"kind", p.kind},
             {"name", p.name},
             {"roles", p.roles},
             {"scopes", scopes},
             {"models", p.models_text()}});
}

}  // namespace

void add_auth_routes(Router& router, ServerState& state) {
  router.get("/v1/auth/whoami",
             [&state](const HttpRequest& req, HttpResponse& res) { whoami(state, req, res); });
}

}  // namespace xervo::server
