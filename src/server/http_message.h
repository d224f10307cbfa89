// The request and response a route handler sees, independent of the HTTP stack underneath
// (src/server/http_listener.cpp). A request is complete (headers and body read, limits checked)
// before a handler runs; a response is either whole (status, headers, body) or streamed: its
// stream function runs on the same worker thread after the handler and writes chunks through a
// StreamSink until it returns. Plain values; one request is handled by one thread at a time.
#pragma once

#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xervo::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class WebSocketHandler;  // server/websocket_handler.h

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query, still percent-encoded
  std::string path;    // percent-decoded path without the query
  HeaderList headers;  // in arrival order; names as sent
  HeaderList query;    // decoded query parameters in order
  std::string body;
  std::string remote_addr;               // the peer's IP address
  std::vector<std::string> path_params;  // what the route pattern's {placeholders} matched
  // Requested when the client closes its connection before the response is complete.
  std::stop_token client_gone;

  // The first header of that name (case-insensitive), or "" when absent.
  std::string header(std::string_view name) const;
  bool has_param(std::string_view name) const;
  std::string param(std::string_view name) const;  // "" when absent
};

// Where a streamed response writes. write() blocks until the bytes are handed to the socket and
// returns false once the client is gone or the write timed out; the stream should then end.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual bool write(std::string_view bytes) = 0;
};

struct HttpResponse {
  int status = 200;
  HeaderList headers;
  std::string body;
  std::string content_type;
  // Set for a streamed (chunked) response: runs after the handler on the same thread. Returning
  // false means the stream ended early (client gone); either way the response ends after it.
  std::function<bool(StreamSink&)> stream;
  std::function<void()> on_stream_end;  // runs once after `stream`, also when the client left
  // Set with status 101 on a WebSocket upgrade request: the listener completes the handshake (with
  // these headers) and hands the connection to the handler.
  std::shared_ptr<WebSocketHandler> websocket;

  void set_header(std::string name, std::string value);  // replaces a header of that name
  std::string header(std::string_view name) const;
  void set_content(std::string content, std::string type);
  void set_stream(std::string type, std::function<bool(StreamSink&)> fn, std::function<void()> on_end = {});
  bool streamed() const { return static_cast<bool>(stream); }
};

// Case-insensitive ASCII comparison of header names.
bool header_name_equals(std::string_view a, std::string_view b);
// Decodes %XX escapes (and '+' as space when `plus_is_space`); malformed escapes stay as they are.
std::string percent_decode(std::string_view text, bool plus_is_space);
// Splits "a=1&b=x%20y" into decoded pairs.
HeaderList parse_query(std::string_view query);

}  // namespace xervo::server
