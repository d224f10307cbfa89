// The WebSocket endpoint GET /v1/ws (docs/server/websocket.md): the checks on the upgrade request
// (a real upgrade, an origin this server may serve, the `xervo.v1` subprotocol), the credential a
// browser can send (the `bearer.KEY` subprotocol: browsers cannot set headers on a WebSocket), and
// the [server.websocket] settings. Stateless; safe from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "server/http_message.h"
#include "xervo/error.h"
#include "xervo/server.h"

namespace xervo::server {

class Router;
struct ServerState;

inline constexpr std::string_view kWebSocketPath = "/v1/ws";
inline constexpr std::string_view kWebSocketProtocol = "xervo.v1";
inline constexpr std::string_view kBearerProtocolPrefix = "bearer.";

// The request's Authorization header; when it has none, "Bearer KEY" from a `bearer.KEY` entry of
// its Sec-WebSocket-Protocol header ("" when neither is there).
std::string websocket_authorization(const HttpRequest& req);

// [server.websocket] -> WebSocketOptions; config_invalid naming the key otherwise.
Result<WebSocketOptions> parse_websocket_options(const nlohmann::json& section);

void add_websocket_routes(Router& router, ServerState& state);

}  // namespace xervo::server
