// HttpListener: the connection layer of `xervo serve`, event-driven on Boost.Asio/Beast. A few I/O
// threads own every socket: they accept, read and bound each request (request line and header
// size, header count, one deadline for the whole header, the declared body length checked before
// any body byte is read, a deadline for the body), cap connections in total and per client
// address, and keep idle keep-alive connections at the cost of a socket and a small buffer. A
// complete request is handed to a pool of worker threads, which run the handler (and a streamed
// response's writer) while the I/O thread watches the socket: a client that goes away requests
// HttpRequest::client_gone, for whole and streamed responses alike. A route that accepts a WebSocket
// upgrade (HttpResponse::websocket) gets the connection for the rest of its life: the I/O threads
// keep the framing, the handler runs on the workers (websocket_handler.h). Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/http_message.h"
#include "xervo/error.h"

namespace xervo::server {

struct ListenerOptions {
  std::string host = "127.0.0.1";
  int port = 0;             // 0 picks a free port (HttpListener::port())
  bool reuse_port = false;  // SO_REUSEPORT: share the port with other processes (else in use = error)
  int io_threads = 1;       // socket I/O and HTTP parsing; handlers never run here
  int worker_threads = 32;  // handlers: one per request being served
  size_t max_header_bytes = 16 * 1024;  // request line + headers; larger: 431
  size_t max_headers = 100;             // header fields; more: 431
  size_t max_body_bytes = 8u << 20;     // declared or chunked body; larger: 413 before it is read
  // Exact paths (file uploads) whose bodies are bounded by upload_body_bytes instead of max_body_bytes.
  std::vector<std::string> upload_paths;
  size_t upload_body_bytes = 0;
  std::chrono::milliseconds header_timeout{10000};     // first byte to end of headers; then 408
  std::chrono::milliseconds keep_alive_timeout{5000};  // idle between requests, then closed
  std::chrono::milliseconds body_timeout{30000};       // the whole body; then 408
  std::chrono::milliseconds write_timeout{60000};      // one write to the client; then closed
  size_t max_connections = 16384;                      // open connections; beyond: 503 and close
  size_t max_connections_per_client = 256;             // open connections of one client address (0: no cap)
};

// A request the listener answered itself, before any handler: for logs and metrics.
struct TransportRejection {
  int status = 400;
  std::string reason;  // bounded label: "header_too_large", "too_many_headers", "body_too_large", ...
  std::string client;  // peer address
  std::string detail;  // human text (may quote what the client sent: escape before logging)
};

class HttpListener {
 public:
  // Runs on a worker thread for each complete request; fills the response. Exceptions become 500.
  using Handler = std::function<void(HttpRequest&, HttpResponse&)>;
  using RejectHook = std::function<void(const TransportRejection&)>;

  // Binds and starts accepting: unavailable (naming the address and the fix) when the port is in
  // use or the host is not an address of this machine.
  static Result<std::unique_ptr<HttpListener>> start(ListenerOptions options, Handler handler,
                                                     RejectHook on_reject);
  ~HttpListener();  // close()
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  int port() const;

  // Stops accepting and closes idle connections; a connection with a request in progress
  // finishes that request, then closes. Connections the kernel already completed are accepted
  // first, and they and any connection before its first request get one answer, then close (one
  // that never sends ends at its header deadline). Returns at once.
  void stop_accepting();
  // Waits until no request is in progress (and, once stopping, until the kernel's queue is taken,
  // no connection is before its first request and no WebSocket is open: each closes with 1001 when
  // its work is done), or until `deadline`; true when none is.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);
  // Closes every connection (requests in progress see client_gone), waits for the handlers still
  // running to return, and ends the threads. Idempotent.
  void close();

  struct Stats {
    size_t connections = 0;  // open sockets
    size_t in_progress = 0;  // requests being handled
  };
  Stats stats() const;

  struct Impl;

 private:
  explicit HttpListener(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace xervo::server
