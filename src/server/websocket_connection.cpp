// WebSocketConnection: one reader coroutine and one writer coroutine on the connection's strand,
// around Beast's websocket::stream. The reader hands each message to the handler on a strand of the
// worker pool and stops reading while kMaxPendingMessages wait there (the client then meets TCP's
// own backpressure). The writer drains one queue whose size in bytes is bounded; a client that lets
// it overflow, or that does not take one message within write_timeout, loses its connection.
#include "server/websocket_connection.h"

namespace xervo::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using error_code = boost::system::error_code;

namespace {

// Messages read and not yet handled; beyond it the reader waits for the handler.
constexpr int kMaxPendingMessages = 8;
// A message is read in pieces of at most this much, so its size is judged before it is all in memory.
constexpr size_t kReadChunk = 64 * 1024;
// A close frame's reason is at most 123 bytes (RFC 6455 5.5: 125 for the payload, 2 of them the code).
constexpr size_t kMaxCloseReason = 123;

bool header_safe(std::string_view text) {
  for (char c : text)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

// Headers the handshake itself owns; a route's value for one of them is dropped.
bool handshake_header(std::string_view name) {
  for (std::string_view own : {"Upgrade", "Connection", "Sec-WebSocket-Accept", "Content-Length",
                               "Transfer-Encoding", "Sec-WebSocket-Extensions"})
    if (header_name_equals(name, own)) return true;
  return false;
}

bool peer_went_away(const error_code& ec) {
  return ec == websocket::error::closed || ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == beast::error::timeout;
}

WebSocketEnd classify_read_end(const error_code& ec) {
  if (ec == websocket::error::message_too_big) return WebSocketEnd::message_too_big;
  // The stream's idle timer ends a read with `timeout` after an unanswered ping.
  if (ec == beast::error::timeout) return WebSocketEnd::ping_timeout;
  if (peer_went_away(ec)) return WebSocketEnd::client_closed;
  return WebSocketEnd::error;
}

}  // namespace

std::string_view to_string(WebSocketEnd end) {
  switch (end) {
    case WebSocketEnd::client_closed:
      return "client_closed";
    case WebSocketEnd::server_closed:
      return "server_closed";
    case WebSocketEnd::message_too_big:
      return "message_too_big";
    case WebSocketEnd::slow_reader:
      return "slow_reader";
    case WebSocketEnd::write_timeout:
      return "write_timeout";
    case WebSocketEnd::idle:
      return "idle";
    case WebSocketEnd::ping_timeout:
      return "ping_timeout";
    case WebSocketEnd::shutdown:
      return "shutdown";
    case WebSocketEnd::error:
      return "error";
  }
  return "error";
}

bool is_websocket_upgrade(const http::request<http::string_body>& request) {
  return websocket::is_upgrade(request);
}

WebSocketConnection::WebSocketConnection(beast::tcp_stream stream, Workers workers,
                                         std::shared_ptr<WebSocketHandler> handler, Hooks hooks)
    : ws_(std::move(stream)),
      workers_(workers),
      messages_(net::make_strand(workers)),
      handler_(std::move(handler)),
      limits_(handler_->limits()),
      hooks_(std::move(hooks)),
      wake_writer_(ws_.get_executor()),
      wake_reader_(ws_.get_executor()),
      writer_done_(ws_.get_executor()),
      idle_(ws_.get_executor()),
      write_guard_(ws_.get_executor()) {}

WebSocketConnection::~WebSocketConnection() = default;

net::awaitable<void> WebSocketConnection::serve(std::shared_ptr<WebSocketConnection> self,
                                                UpgradeRequest request, HeaderList headers) {
  auto& ws = self->ws_;
  const auto& limits = self->limits_;
  beast::get_lowest_layer(ws).expires_never();  // the websocket stream keeps its own time
  websocket::stream_base::timeout timeouts;
  timeouts.handshake_timeout = limits.handshake_timeout;
  timeouts.idle_timeout = limits.ping_interval * 2;  // a ping after one interval of silence, closed after two
  timeouts.keep_alive_pings = true;
  ws.set_option(timeouts);
  // The size bound is read_loop's: Beast's own would end the connection with a close frame the
  // client may never see (its teardown closes the socket with the message's rest unread: a reset).
  ws.read_message_max(0);
  ws.set_option(
      websocket::stream_base::decorator([headers = std::move(headers)](websocket::response_type& res) {
        res.set(http::field::server, "xervo");
        for (const auto& [name, value] : headers)
          if (header_safe(name) && header_safe(value) && !handshake_header(name)) res.set(name, value);
      }));
  error_code ec;
  co_await ws.async_accept(request, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    error_code ignored;
    beast::get_lowest_layer(ws).socket().close(ignored);
    co_return;
  }
  {
    std::lock_guard lock(self->mu_);
    self->open_ = true;
  }
  net::post(self->messages_, [self] {
    try {
      self->handler_->on_open(self);
    } catch (const std::exception&) {
      self->close(1011, "the server failed to open this connection");
    }
  });
  self->arm_idle();
  self->writer_running_ = true;
  net::co_spawn(ws.get_executor(), write_loop(self), net::detached);

  co_await self->read_loop();

  {
    std::lock_guard lock(self->mu_);
    self->open_ = false;
    self->ended_ = true;
    self->outbox_.clear();
    self->queued_bytes_ = 0;
  }
  error_code ignored;
  beast::get_lowest_layer(ws).socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(ws).socket().close(ignored);
  self->idle_.cancel();
  self->write_guard_.cancel();
  self->wake_writer_.cancel();
  while (self->writer_running_) {
    self->writer_done_.expires_at(net::steady_timer::time_point::max());
    co_await self->writer_done_.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
  WebSocketEnd why = self->end_reason();
  net::post(self->messages_, [self, why] {
    try {
      self->handler_->on_close(why);
    } catch (const std::exception&) {
    }
    self->handler_.reset();  // the handler holds this channel: break the cycle
  });
}

net::awaitable<void> WebSocketConnection::read_loop() {
  auto self = shared_from_this();
  for (;;) {
    while (pending_messages_.load() >= kMaxPendingMessages) {
      error_code ec;
      wake_reader_.expires_at(net::steady_timer::time_point::max());
      co_await wake_reader_.async_wait(net::redirect_error(net::use_awaitable, ec));
      if (failed_) co_return;  // the socket was closed while waiting
    }
    beast::flat_buffer buffer;  // per message: a large one does not stay allocated
    bool too_big = false;
    do {
      error_code ec;
      co_await ws_.async_read_some(buffer, kReadChunk, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        note_end(classify_read_end(ec));
        co_return;
      }
      if (!too_big && buffer.size() > limits_.max_message_bytes) {
        // Close with 1009 and keep reading: the rest of the message, then the client's close frame,
        // are consumed by the closing handshake, so the client gets the reason.
        too_big = true;
        note_end(WebSocketEnd::message_too_big);
        close(static_cast<uint16_t>(websocket::close_code::too_big),
              "message larger than " + std::to_string(limits_.max_message_bytes) + " bytes");
      }
      if (too_big) buffer.consume(buffer.size());
    } while (!ws_.is_message_done());
    if (too_big) continue;
    arm_idle();
    pending_messages_.fetch_add(1);
    net::post(messages_,
              [self, text = beast::buffers_to_string(buffer.data()), binary = ws_.got_binary()]() mutable {
                try {
                  self->handler_->on_message(std::move(text), binary);
                } catch (const std::exception&) {
                  self->close(1011, "the server failed to handle a message");
                }
                if (self->pending_messages_.fetch_sub(1) >= kMaxPendingMessages)
                  self->post_to_strand([](WebSocketConnection& c) { c.wake_reader_.cancel(); });
              });
  }
}

net::awaitable<void> WebSocketConnection::write_loop(std::shared_ptr<WebSocketConnection> self) {
  auto& ws = self->ws_;
  for (;;) {
    std::string message;
    std::optional<websocket::close_reason> closing;
    bool have = false;
    {
      std::lock_guard lock(self->mu_);
      if (self->ended_) break;
      if (!self->outbox_.empty()) {
        message = std::move(self->outbox_.front());
        self->outbox_.pop_front();
        have = true;
      } else if (self->close_ && !self->close_sent_) {
        closing = self->close_;
        self->close_sent_ = true;
      }
    }
    error_code ec;
    if (have) {
      std::weak_ptr<WebSocketConnection> weak = self;
      self->write_guard_.expires_after(self->limits_.write_timeout);
      self->write_guard_.async_wait([weak](const error_code& e) {
        if (auto s = weak.lock(); s && !e) s->fail(WebSocketEnd::write_timeout);
      });
      ws.text(true);
      co_await ws.async_write(net::buffer(message), net::redirect_error(net::use_awaitable, ec));
      self->write_guard_.cancel();
      {
        std::lock_guard lock(self->mu_);
        self->queued_bytes_ -= std::min(self->queued_bytes_, message.size());
      }
    } else if (closing) {
      co_await ws.async_close(*closing, net::redirect_error(net::use_awaitable, ec));
    } else {
      self->wake_writer_.expires_at(net::steady_timer::time_point::max());
      co_await self->wake_writer_.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    if (ec) {
      // operation_aborted: fail() closed the socket and noted why.
      if (ec != net::error::operation_aborted)
        self->fail(peer_went_away(ec) ? WebSocketEnd::client_closed : WebSocketEnd::error);
      break;
    }
  }
  self->writer_running_ = false;
  self->writer_done_.cancel();
}

bool WebSocketConnection::send(std::string text) {
  bool overflow = false;
  bool was_empty = false;
  {
    std::lock_guard lock(mu_);
    if (!open_) return false;
    if (queued_bytes_ + text.size() > limits_.max_send_queue_bytes) {
      open_ = false;
      overflow = true;
    } else {
      was_empty = outbox_.empty();
      queued_bytes_ += text.size();
      outbox_.push_back(std::move(text));
    }
  }
  if (overflow) {
    post_to_strand([](WebSocketConnection& c) { c.fail(WebSocketEnd::slow_reader); });
    return false;
  }
  // A writer busy with a message looks at the queue again when it is written: only an empty queue
  // can have a writer asleep on it.
  if (was_empty) post_to_strand([](WebSocketConnection& c) { c.wake_writer_.cancel(); });
  return true;
}

void WebSocketConnection::run(std::function<void()> work) {
  running_.fetch_add(1);
  if (hooks_.begin_work) hooks_.begin_work();
  net::post(workers_, [self = shared_from_this(), work = std::move(work)]() mutable {
    try {
      work();
    } catch (const std::exception&) {
      // The handler reports its own errors; this only keeps a stray exception off the pool.
    }
    work = nullptr;  // what it captured goes before the work counts as done
    if (self->hooks_.end_work) self->hooks_.end_work();
    if (self->running_.fetch_sub(1) == 1)
      self->post_to_strand([](WebSocketConnection& c) { c.work_ended(); });
  });
}

void WebSocketConnection::close(uint16_t code, std::string reason) {
  if (reason.size() > kMaxCloseReason) reason.resize(kMaxCloseReason);
  {
    std::lock_guard lock(mu_);
    if (!open_ || close_) return;
    open_ = false;
    close_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
    if (!end_) end_ = WebSocketEnd::server_closed;
  }
  post_to_strand([](WebSocketConnection& c) { c.wake_writer_.cancel(); });
}

void WebSocketConnection::shutdown() {
  draining_ = true;
  if (running_.load() > 0) return;  // work_ended() closes once the last task returns
  note_end(WebSocketEnd::shutdown);
  close(1001, "the server is shutting down");
}

void WebSocketConnection::abort() { fail(WebSocketEnd::shutdown); }

void WebSocketConnection::note_end(WebSocketEnd why) {
  std::lock_guard lock(mu_);
  if (!end_) end_ = why;
}

WebSocketEnd WebSocketConnection::end_reason() {
  std::lock_guard lock(mu_);
  return end_.value_or(WebSocketEnd::error);
}

void WebSocketConnection::fail(WebSocketEnd why) {
  note_end(why);
  {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  failed_ = true;
  // Closing the socket ends the pending read and write at once: no close frame for a client that
  // is not reading anyway.
  error_code ignored;
  beast::get_lowest_layer(ws_).socket().close(ignored);
  wake_reader_.cancel();
  wake_writer_.cancel();
}

void WebSocketConnection::post_to_strand(std::function<void(WebSocketConnection&)> fn) {
  // Weak: a handler still queued when the I/O threads stop must not keep the connection alive.
  net::post(ws_.get_executor(), [weak = weak_from_this(), fn = std::move(fn)] {
    if (auto self = weak.lock()) fn(*self);
  });
}

void WebSocketConnection::arm_idle() {
  if (running_.load() > 0) return;
  idle_.expires_after(limits_.idle_timeout);
  idle_.async_wait([weak = weak_from_this()](const error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->running_.load() > 0 || self->pending_messages_.load() > 0) return;
    self->note_end(WebSocketEnd::idle);
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(self->limits_.idle_timeout).count();
    self->close(1000, "idle: no request for " + std::to_string(seconds) + " s");
  });
}

void WebSocketConnection::work_ended() {
  if (running_.load() > 0) return;
  if (draining_) {
    note_end(WebSocketEnd::shutdown);
    close(1001, "the server is shutting down");
    return;
  }
  arm_idle();
}

}  // namespace xervo::server
