// WebSocketConnection: the listener's side of an accepted WebSocket upgrade, on Boost.Beast. It
// owns the socket once the HTTP request that asked for the upgrade has been answered by a route:
// it completes the handshake, reads messages (at most max_message_bytes each, and at most a few
// waiting for the handler before it stops reading), hands them to the handler on a strand of the
// worker pool, and writes what the handler sends through one bounded queue, one message at a time.
// Pings, pongs and the closing handshake are Beast's. The I/O side runs on the connection's strand;
// WebSocketChannel methods are safe from any thread. Internal to src/server.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without including it
// clang-format off
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
// clang-format on

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "server/http_message.h"
#include "server/websocket_handler.h"

namespace xervo::server {

class WebSocketConnection final : public WebSocketChannel,
                                  public std::enable_shared_from_this<WebSocketConnection> {
 public:
  using Workers = boost::asio::thread_pool::executor_type;
  using UpgradeRequest = boost::beast::http::request<boost::beast::http::empty_body>;

  // What the listener counts: work started through run() is a request in progress.
  struct Hooks {
    std::function<void()> begin_work;
    std::function<void()> end_work;
  };

  WebSocketConnection(boost::beast::tcp_stream stream, Workers workers,
                      std::shared_ptr<WebSocketHandler> handler, Hooks hooks);
  ~WebSocketConnection() override;

  // Answers `request` with 101 (plus `headers`) and serves the connection until it ends. Runs on the
  // stream's strand; returns once the socket is closed.
  static boost::asio::awaitable<void> serve(std::shared_ptr<WebSocketConnection> self, UpgradeRequest request,
                                            HeaderList headers);
  // Strand only. shutdown: close with 1001 as soon as no work runs (a graceful stop); abort: close
  // the socket now.
  void shutdown();
  void abort();

  bool send(std::string text) override;
  void run(std::function<void()> work) override;
  void close(uint16_t code, std::string reason) override;

 private:
  boost::asio::awaitable<void> read_loop();
  static boost::asio::awaitable<void> write_loop(std::shared_ptr<WebSocketConnection> self);
  void note_end(WebSocketEnd why);  // the first reason wins
  void fail(WebSocketEnd why);      // strand: note it and close the socket
  void post_to_strand(std::function<void(WebSocketConnection&)> fn);
  void arm_idle();    // strand
  void work_ended();  // strand: the last run() task returned
  WebSocketEnd end_reason();

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  Workers workers_;
  boost::asio::strand<Workers> messages_;  // the handler's callbacks, in order
  std::shared_ptr<WebSocketHandler> handler_;
  const WebSocketLimits limits_;
  Hooks hooks_;
  boost::asio::steady_timer wake_writer_;
  boost::asio::steady_timer wake_reader_;
  boost::asio::steady_timer writer_done_;
  boost::asio::steady_timer idle_;
  boost::asio::steady_timer write_guard_;

  std::mutex mu_;
  std::deque<std::string> outbox_;  // GUARDED_BY(mu_)
  size_t queued_bytes_ = 0;         // GUARDED_BY(mu_): outbox + the message being written
  bool open_ = false;               // GUARDED_BY(mu_): send() accepts messages
  bool ended_ = false;              // GUARDED_BY(mu_): the reader is done
  std::optional<boost::beast::websocket::close_reason> close_;  // GUARDED_BY(mu_): to send after the outbox
  std::optional<WebSocketEnd> end_;                             // GUARDED_BY(mu_)

  std::atomic<int> running_{0};           // run() tasks not yet returned
  std::atomic<int> pending_messages_{0};  // read, not yet handled
  bool draining_ = false;                 // strand only
  bool writer_running_ = false;           // strand only
  bool close_sent_ = false;               // strand only
  bool failed_ = false;                   // strand only: fail() closed the socket
};

// True when `request` asks for a WebSocket upgrade (GET, Upgrade: websocket, Connection: upgrade).
bool is_websocket_upgrade(const boost::beast::http::request<boost::beast::http::string_body>& request);

}  // namespace xervo::server
