// The seam between the connection layer and a WebSocket protocol: a route accepts an upgrade by
// setting HttpResponse::websocket to a WebSocketHandler; the listener then completes the handshake
// and speaks the WebSocket framing (ping/pong, close, size and queue bounds) on its I/O threads,
// while the handler sees whole text messages on the worker pool, one at a time per connection, and
// answers through the WebSocketChannel. The handler never touches a socket and the listener never
// parses a message. Channel methods are safe from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace xervo::server {

// Transport bounds of one WebSocket connection, chosen by the route that accepts it.
struct WebSocketLimits {
  size_t max_message_bytes = 1u << 20;             // one client message; larger: closed with 1009
  size_t max_send_queue_bytes = 4u << 20;          // queued for a client that does not read; beyond: closed
  std::chrono::milliseconds ping_interval{30000};  // ping a silent client this often; silent for two: closed
  std::chrono::milliseconds idle_timeout{300000};  // no message and no work running for this long: closed
  std::chrono::milliseconds write_timeout{60000};  // one message written to the socket; then closed
  std::chrono::milliseconds handshake_timeout{10000};  // the 101 response and the closing handshake
};

// Why a WebSocket connection ended: a bounded label (logs and metrics).
enum class WebSocketEnd {
  client_closed,    // the client sent a close frame or closed its socket
  server_closed,    // WebSocketChannel::close (a protocol decision)
  message_too_big,  // a message over max_message_bytes (closed with 1009)
  slow_reader,      // the send queue passed max_send_queue_bytes
  write_timeout,    // one write took longer than write_timeout
  idle,             // idle_timeout passed with no message and no work
  ping_timeout,     // the client answered no ping
  shutdown,         // the server is stopping
  error,            // a socket or protocol error
};
std::string_view to_string(WebSocketEnd end);

class WebSocketChannel {
 public:
  virtual ~WebSocketChannel() = default;
  // Queues one text message; messages go out in the order they were queued. False once the
  // connection is closing or closed. A message that would take the queue past max_send_queue_bytes
  // ends the connection (slow_reader) instead of growing memory, and returns false.
  virtual bool send(std::string text) = 0;
  // Runs `work` on the worker pool, outside the connection's message order (a long generation).
  // It counts as a request in progress for a graceful shutdown, and keeps the connection from
  // being idle while it runs.
  virtual void run(std::function<void()> work) = 0;
  // Sends the messages queued so far, then a close frame with `code` and `reason` (at most 123 bytes).
  virtual void close(uint16_t code, std::string reason) = 0;
};

class WebSocketHandler {
 public:
  virtual ~WebSocketHandler() = default;
  virtual WebSocketLimits limits() const = 0;
  // After the handshake, before any message.
  virtual void on_open(std::shared_ptr<WebSocketChannel> channel) = 0;
  // One whole message (`binary` when the client sent a binary frame), in arrival order.
  virtual void on_message(std::string message, bool binary) = 0;
  // Once, after the last on_message: the connection is gone (work started through run() may still
  // be running; its sends return false).
  virtual void on_close(WebSocketEnd why) = 0;
};

}  // namespace xervo::server
