// The generation protocol spoken over GET /v1/ws (docs/server/websocket.md): JSON text messages,
// {"type": "generate", "id", "model", "messages" | "prompt", options...} in, "delta" messages and one
// "done" or "error" per request out, several requests at once tagged by their ids, "cancel" and
// "ping". Requests are parsed by the OpenAI parsers (generation_request.h) and run on the worker pool
// through WebSocketChannel::run, each with the request context (rate limit bucket, access log,
// metrics) of an HTTP request. One handler per connection; its callbacks come one at a time.
#pragma once

#include <memory>
#include <string>

#include "core/trace.h"
#include "server/rate_limiter.h"
#include "server/websocket_handler.h"

namespace xervo::server {

struct ServerState;
struct Principal;  // access_policy.h

// What the upgrade request established for every request of its connection.
struct WebSocketClient {
  std::string request_id;                      // of the upgrade; each generation's is REQUEST_ID-N
  std::string client;                          // key name ("key:NAME") or address: the rate-limit bucket
  RateLimit limit;                             // that key's (or the server's) limits
  std::string remote_addr;                     // the peer's address
  std::shared_ptr<const Principal> principal;  // who authenticated the upgrade (null without auth)
  std::string client_ip;                       // the client's address (audit log)
  // The upgrade request's trace: each generation's span is its child unless the generate message
  // names a `traceparent` of its own.
  std::optional<trace::SpanContext> trace_parent;
};

std::shared_ptr<WebSocketHandler> make_generation_socket(ServerState& state, WebSocketClient client);

}  // namespace xervo::server
