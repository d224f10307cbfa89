// GET /v1/ws: everything an upgrade must pass before the connection becomes a WebSocket. The
// cross-cutting steps of server.cpp ran already (authentication, with the `bearer.KEY` subprotocol
// as a browser's Authorization header; the rate limit; the shutdown refusal); this route checks that
// the request is a WebSocket handshake, that a browser's Origin is this server's own or one of
// cors_origins (else any web page could drive a local server from its visitor's browser), and that
// the client speaks `xervo.v1`.
#include "server/websocket_routes.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "server/server_state.h"
#include "server/websocket_generations.h"
#include "core/option_fields.h"
#include "core/text.h"

namespace xervo::server {
namespace {

std::string lower(std::string_view s) { return text::ascii_lower(s); }

using text::trim;

// The comma-separated entries of a header value, trimmed, empty ones dropped.
std::vector<std::string> header_list(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    size_t comma = value.find(',');
    auto item = trim(value.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

bool has_token(std::string_view value, std::string_view token) {
  for (const auto& item : header_list(value))
    if (lower(item) == token) return true;
  return false;
}

void send_refusal(HttpResponse& res, int status, std::string_view type, std::string_view code,
                  std::string message) {
  send_json(
      res, status,
      {{"error", {{"message", std::move(message)}, {"type", type}, {"code", code}, {"param", nullptr}}}});
}

// A browser sends Origin; a page of this very server (scheme://Host) may connect, any other only
// when cors_origins names it. Clients that are not browsers send no Origin and are not asked.
bool origin_may_connect(const ServerOptions& o, const HttpRequest& req, const std::string& origin) {
  for (const auto& allowed : o.cors_origins)
    if (allowed == "*" || allowed == origin) return true;
  std::string host = lower(req.header("Host"));
  if (host.empty()) return false;
  std::string o_lower = lower(origin);
  return o_lower == "http://" + host || o_lower == "https://" + host;
}

void upgrade(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  if (!has_token(req.header("Upgrade"), "websocket") || !has_token(req.header("Connection"), "upgrade")) {
    res.set_header("Upgrade", "websocket");
    res.set_header("Connection", "Upgrade");
    send_refusal(res, 426, "invalid_request_error", "upgrade_required",
                 "GET /v1/ws is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket); "
                 "see docs/server/websocket.md");
    return;
  }
  if (trim(req.header("Sec-WebSocket-Version")) != "13") {
    res.set_header("Sec-WebSocket-Version", "13");
    send_refusal(res, 426, "invalid_request_error", "upgrade_required",
                 "only WebSocket version 13 (RFC 6455) is supported");
    return;
  }
  if (trim(req.header("Sec-WebSocket-Key")).empty()) {
    send_refusal(res, 400, "invalid_request_error", "invalid_input", "the upgrade has no Sec-WebSocket-Key");
    return;
  }
  std::string origin = req.header("Origin");
  if (!origin.empty() && !origin_may_connect(state.options, req, origin)) {
    state.metrics.rejected("origin");
    send_refusal(
        res, 403, "permission_error", "forbidden",
        "origin '" + origin + "' may not open a WebSocket on this server: add it to [server] cors_origins");
    return;
  }
  auto offered = header_list(req.header("Sec-WebSocket-Protocol"));
  bool speaks = std::find(offered.begin(), offered.end(), kWebSocketProtocol) != offered.end();
  if (!offered.empty() && !speaks) {
    // Echoing `bearer.KEY` back would put the key in a response header: the client must offer ours.
    send_refusal(res, 400, "invalid_request_error", "invalid_input",
                 "this endpoint speaks the WebSocket subprotocol 'xervo.v1': offer it (alongside "
                 "'bearer.KEY' when the key travels that way), or offer none");
    return;
  }
  const auto& ctx = current_request();
  res.status = 101;
  if (speaks) res.set_header("Sec-WebSocket-Protocol", std::string(kWebSocketProtocol));
  res.websocket = make_generation_socket(
      state, {ctx.request_id, ctx.client, ctx.limit, req.remote_addr, ctx.principal, ctx.client_ip,
              ctx.span.context().valid() ? std::optional(ctx.span.context()) : std::nullopt});
}

const options::Section kSection{"[server] websocket."};

}  // namespace

std::string websocket_authorization(const HttpRequest& req) {
  std::string header = req.header("Authorization");
  if (!header.empty()) return header;
  for (const auto& entry : header_list(req.header("Sec-WebSocket-Protocol")))
    if (entry.size() > kBearerProtocolPrefix.size() && entry.starts_with(kBearerProtocolPrefix))
      return "Bearer " + entry.substr(kBearerProtocolPrefix.size());
  return {};
}

Result<WebSocketOptions> parse_websocket_options(const nlohmann::json& section) {
  struct Bounds {
    const char* key;
    int64_t min, max;
  };
  static constexpr Bounds kKeys[] = {{"max_message_bytes", 1024, int64_t{1} << 30},
                                     {"max_requests", 1, 4096},
                                     {"max_send_queue_bytes", 4096, int64_t{1} << 32},
                                     {"ping_interval_s", 1, 3600},
                                     {"idle_timeout_s", 1, 86400}};
  WebSocketOptions o;
  if (!section.is_object()) return Error(ErrorCode::config_invalid, "[server] websocket must be a table");
  for (const auto& [key, v] : section.items()) {
    const Bounds* bounds = nullptr;
    for (const auto& b : kKeys)
      if (key == b.key) bounds = &b;
    if (!bounds)
      return kSection.invalid(key,
                     "unknown key (expected max_message_bytes, max_requests, max_send_queue_bytes, "
                     "ping_interval_s, idle_timeout_s)");
    auto n = kSection.integer(v, key, bounds->min, bounds->max);
    if (!n.ok()) return n.error();
    if (key == "max_message_bytes")
      o.max_message_bytes = static_cast<size_t>(*n);
    else if (key == "max_requests")
      o.max_requests = static_cast<int>(*n);
    else if (key == "max_send_queue_bytes")
      o.max_send_queue_bytes = static_cast<size_t>(*n);
    else if (key == "ping_interval_s")
      o.ping_interval = std::chrono::seconds(*n);
    else
      o.idle_timeout = std::chrono::seconds(*n);
  }
  return o;
}

void add_websocket_routes(Router& router, ServerState& state) {
  router.get(std::string(kWebSocketPath),
             [&state](const HttpRequest& req, HttpResponse& res) { upgrade(state, req, res); });
}

}  // namespace xervo::server
