// HttpListener on Boost.Asio (C++20 coroutines) and Beast's HTTP/1.1 parser. Each connection is
// one coroutine on its own strand: idle wait, bounded header read, body read, then the request is
// posted to the worker pool as an Exchange. While the worker runs, the coroutine writes what the
// worker queues (a whole response, or a streamed response's header and chunks) and watches the
// socket for the client closing it. A request that asks for a WebSocket upgrade goes through the
// same path; when its route accepts (101 and HttpResponse::websocket), the connection's socket goes
// to a WebSocketConnection (websocket_connection.h) for the rest of its life.
#include "server/http_listener.h"

#include <sys/socket.h>

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without including it
// clang-format off
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/websocket_connection.h"

namespace xervo::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

constexpr size_t kIdleReadBytes = 1024;  // what an idle connection allocates for its next request

std::string error_json(int status, std::string_view code, std::string_view message) {
  nlohmann::json body = {{"error",
                          {{"message", message},
                           {"type", status >= 500 ? "server_error" : "invalid_request_error"},
                           {"code", code},
                           {"param", nullptr}}}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool header_safe(std::string_view text) {
  for (char c : text)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

// Status line and headers. `content_length` empty: chunked (HTTP/1.1) or close-delimited.
std::string serialize_head(const HttpResponse& res, bool keep_alive, std::optional<size_t> content_length,
                           bool chunked) {
  std::string out = "HTTP/1.1 " + std::to_string(res.status) + " ";
  auto reason = http::obsolete_reason(static_cast<http::status>(res.status));
  out.append(reason.data(), reason.size());
  out += "\r\n";
  for (const auto& [name, value] : res.headers) {
    // Handlers echo some client values (CORS); a header that could split the response is dropped.
    if (!header_safe(name) || !header_safe(value) || header_name_equals(name, "Content-Length") ||
        header_name_equals(name, "Transfer-Encoding") || header_name_equals(name, "Connection"))
      continue;
    out += name + ": " + value + "\r\n";
  }
  if (!res.content_type.empty() && res.header("Content-Type").empty())
    out += "Content-Type: " + res.content_type + "\r\n";
  if (content_length) out += "Content-Length: " + std::to_string(*content_length) + "\r\n";
  if (chunked) out += "Transfer-Encoding: chunked\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  return out;
}

std::string plain_response(int status, std::string_view code, std::string_view message) {
  HttpResponse res;
  res.status = status;
  res.set_content(error_json(status, code, message), "application/json");
  if (status == 503) res.set_header("Retry-After", "1");
  return serialize_head(res, false, res.body.size(), false) + res.body;
}

// The path of a request target ("/a/b?x=1" or an absolute "http://h/a/b?x=1"), and its query.
std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  if (target.starts_with("http://") || target.starts_with("https://")) {
    size_t slash = target.find('/', target.find("//") + 2);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

}  // namespace

// One request being served: shared by the connection's coroutine (which writes) and the worker
// (which handles the request and queues bytes).
struct Exchange {
  HttpRequest request;
  HttpResponse response;
  std::stop_source client_gone;
  bool keep_alive = true;
  bool http11 = true;
  std::optional<WebSocketConnection::UpgradeRequest> upgrade;  // the request asked for a WebSocket

  std::mutex mu;
  std::condition_variable written_cv;
  std::deque<std::string> outbox;  // GUARDED_BY(mu): bytes to write, in order
  uint64_t queued = 0;             // GUARDED_BY(mu)
  uint64_t written = 0;            // GUARDED_BY(mu)
  bool finished = false;           // GUARDED_BY(mu): the worker queues nothing more
  bool failed = false;             // GUARDED_BY(mu): a write failed or the connection closed
  std::function<void()> wake;      // asks the connection to look at the outbox (any thread)

  // Queues bytes; with `wait`, returns once they are written (false if they never will be).
  bool send(std::string bytes, bool wait, std::chrono::milliseconds write_timeout) {
    uint64_t seq = 0;
    {
      std::lock_guard lock(mu);
      if (failed) return false;
      outbox.push_back(std::move(bytes));
      seq = ++queued;
    }
    wake();
    if (!wait) return true;
    std::unique_lock lock(mu);
    // The connection's own write deadline ends a stuck write; this bound only guards against a
    // connection that is gone without saying so.
    written_cv.wait_for(lock, write_timeout + std::chrono::seconds(5),
                        [&] { return written >= seq || failed; });
    return written >= seq && !failed;
  }
  void finish() {
    {
      std::lock_guard lock(mu);
      finished = true;
    }
    wake();
  }
};

namespace {

// A streamed response's sink: each write is one chunk, written before write() returns.
class ChunkSink final : public StreamSink {
 public:
  ChunkSink(Exchange& ex, std::chrono::milliseconds write_timeout) : ex_(ex), write_timeout_(write_timeout) {}
  bool write(std::string_view bytes) override {
    if (bytes.empty()) return !ex_.client_gone.stop_requested();
    if (ex_.client_gone.stop_requested()) return false;
    std::string frame;
    if (ex_.http11) {
      char size[32];
      int n = std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
      frame.reserve(bytes.size() + static_cast<size_t>(n) + 2);
      frame.append(size, static_cast<size_t>(n)).append(bytes).append("\r\n");
    } else {
      frame.assign(bytes);
    }
    return ex_.send(std::move(frame), true, write_timeout_);
  }

 private:
  Exchange& ex_;
  std::chrono::milliseconds write_timeout_;
};

}  // namespace

class Connection;

struct HttpListener::Impl {
  ListenerOptions options;
  Handler handler;
  RejectHook on_reject;

  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> io_threads;
  std::unique_ptr<net::thread_pool> workers;
  int port = 0;

  mutable std::mutex mu;
  std::condition_variable idle_cv;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections;  // GUARDED_BY(mu)
  std::map<std::string, size_t> per_client;                                // GUARDED_BY(mu)
  size_t in_progress = 0;                                                  // GUARDED_BY(mu)
  // Connections that have not begun their first request, counted from accept() (not from when
  // their coroutine starts): a client opened them to send one (a proxy sends it at once), so a stop
  // waits for it instead of resetting a request already on its way.
  size_t opening = 0;      // GUARDED_BY(mu)
  bool accepting = true;   // GUARDED_BY(mu): until accept_loop ends (the stop took the kernel's queue)
  size_t websockets = 0;                                                   // GUARDED_BY(mu): open ones
  bool stopping = false;                                                   // GUARDED_BY(mu)
  bool closed = false;                                                     // GUARDED_BY(mu)

  // Counts a new connection of `client`; false when a cap is reached (the reason in `why`).
  // A connection accepted during a stop is admitted too: the client connected before the listening
  // socket closed, and its request may be on its way (a proxy cannot resend a POST that met a 503).
  bool admit(const std::string& client, std::string* why) {
    std::lock_guard lock(mu);
    if (connections.size() >= options.max_connections) {
      *why = "the server has " + std::to_string(connections.size()) + " connections open (max_connections)";
      return false;
    }
    size_t& n = per_client[client];
    if (options.max_connections_per_client > 0 && n >= options.max_connections_per_client) {
      *why = "this client address has " + std::to_string(n) +
             " connections open (max_connections_per_client); reuse connections";
      return false;
    }
    ++n;
    ++opening;
    return true;
  }
  // False once close() has begun: its close_now pass has been made and the workers are ending, so
  // a connection that starts this late ends at once (it would never be closed or answered).
  bool add(Connection* c, std::weak_ptr<Connection> weak) {
    std::lock_guard lock(mu);
    if (closed) return false;
    connections.emplace(c, std::move(weak));
    return true;
  }
  // The connection's first request began (`opening` becomes in progress at once) or it ended first.
  void opened(bool request_begins) {
    std::lock_guard lock(mu);
    --opening;
    if (request_begins) ++in_progress;
    idle_cv.notify_all();
  }
  void remove(Connection* c, const std::string& client) {
    std::lock_guard lock(mu);
    connections.erase(c);
    if (auto it = per_client.find(client); it != per_client.end() && --it->second == 0) per_client.erase(it);
    idle_cv.notify_all();
  }
  void begin_request() {
    std::lock_guard lock(mu);
    ++in_progress;
  }
  // A socket from accept(): admitted and served, or refused with a 503.
  void adopt(tcp::socket socket);
  void end_request() {
    std::lock_guard lock(mu);
    --in_progress;
    idle_cv.notify_all();
  }
  void websocket_begins() {
    std::lock_guard lock(mu);
    ++websockets;
  }
  void websocket_ends() {
    std::lock_guard lock(mu);
    --websockets;
    idle_cv.notify_all();
  }
  bool is_stopping() const {
    std::lock_guard lock(mu);
    return stopping;
  }
  void reject(int status, std::string reason, const std::string& client, std::string detail) const {
    if (on_reject) on_reject(TransportRejection{status, std::move(reason), client, std::move(detail)});
  }
  std::vector<std::shared_ptr<Connection>> live_connections() const;

  net::awaitable<void> accept_loop();
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(HttpListener::Impl& owner, tcp::socket socket, std::string client)
      : owner_(owner),
        stream_(std::move(socket)),
        executor_(stream_.get_executor()),
        buffer_(owner.options.max_header_bytes + 64 * 1024),
        client_(std::move(client)),
        signal_(stream_.get_executor()) {}

  // Kept apart from the stream, which moves into the WebSocket after an upgrade.
  net::any_io_executor executor() { return executor_; }

  // The connection's whole life. `self` is a parameter so that the coroutine frame owns it.
  static net::awaitable<void> run(std::shared_ptr<Connection> self) {
    if (self->owner_.add(self.get(), self)) {
      try {
        co_await self->serve();
      } catch (const std::exception&) {
        // A failed allocation or an Asio error the loop did not expect ends this connection only.
      }
    }
    if (!self->websocket_) {  // else the WebSocket owns (and has closed) the socket
      error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      self->stream_.socket().close(ignored);
    }
    if (self->opening_) self->owner_.opened(false);
    self->owner_.remove(self.get(), self->client_);
  }

  // Closes the connection unless a request is in progress (then it closes after the response; a
  // WebSocket once its work is done). Runs on the connection's strand.
  void close_if_idle() {
    closing_ = true;
    if (websocket_) return websocket_->shutdown();
    // A connection still before its first request is not idle: its request may be on its way (it
    // then gets its answer and closes); one that never sends ends at its header deadline.
    if (!exchange_ && !opening_) stream_.cancel();
  }
  // Closes now; a request in progress sees client_gone.
  void close_now() {
    closing_ = true;
    if (websocket_) return websocket_->abort();
    if (exchange_) exchange_->client_gone.request_stop();
    error_code ignored;
    stream_.socket().close(ignored);
    signal_.cancel();
  }

 private:
  const ListenerOptions& opts() const { return owner_.options; }

  // Writes a response the listener made itself and ends the connection.
  net::awaitable<void> refuse(int status, std::string reason, std::string_view code, std::string message) {
    owner_.reject(status, std::move(reason), client_, message);
    std::string bytes = plain_response(status, code, message);
    error_code ec;
    stream_.expires_after(std::chrono::seconds(2));
    co_await net::async_write(stream_, net::buffer(bytes), net::redirect_error(net::use_awaitable, ec));
  }

  net::awaitable<void> serve() {
    bool first = true;
    while (!closing_) {
      error_code ec;
      if (buffer_.size() == 0) {
        // Idle: wait for the first bytes of the next request with a small buffer.
        buffer_.shrink_to_fit();
        stream_.expires_after(first ? opts().header_timeout : opts().keep_alive_timeout);
        size_t n = co_await stream_.async_read_some(buffer_.prepare(kIdleReadBytes),
                                                    net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return;  // closed, idle too long, or shutting down
        buffer_.commit(n);
      }
      first = false;
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(opts().max_header_bytes));
      // Beast checks a declared length as the header ends, before the path is known: allow the larger
      // bound there, then hold each path to its own (body_limit_for) once the header is read.
      body_limit_ = std::max(opts().max_body_bytes, opts().upload_body_bytes);
      parser.body_limit(body_limit_);
      stream_.expires_after(opts().header_timeout);
      co_await http::async_read_header(stream_, buffer_, parser, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        body_limit_ = body_limit_for(target_of(parser));  // for the message of a length too large
        co_await header_error(ec);
        co_return;
      }
      body_limit_ = body_limit_for(target_of(parser));
      if (auto declared = parser.content_length(); declared && *declared > body_limit_) {
        co_await refuse(413, "body_too_large", "invalid_input", body_limit_message());
        co_return;
      }
      parser.body_limit(body_limit_);
      if (!(co_await check_header(parser))) co_return;
      if (!parser.is_done()) {
        stream_.expires_after(opts().body_timeout);
        co_await http::async_read(stream_, buffer_, parser, net::redirect_error(net::use_awaitable, ec));
        if (ec) {
          if (ec == http::error::body_limit)
            co_await refuse(413, "body_too_large", "invalid_input", body_limit_message());
          else if (ec == beast::error::timeout)  // the stream closed the socket: nothing can be sent
            owner_.reject(408, "body_timeout", client_, "the body did not arrive within read_timeout_s");
          co_return;
        }
      }
      stream_.expires_never();
      if (!(co_await exchange(parser.release()))) co_return;
    }
  }

  static std::string_view target_of(const http::request_parser<http::string_body>& parser) {
    auto t = parser.get().target();
    return {t.data(), t.size()};
  }

  size_t body_limit_for(std::string_view target) const {
    auto path = split_target(target).first;
    for (const auto& upload : opts().upload_paths)
      if (path == upload) return opts().upload_body_bytes;
    return opts().max_body_bytes;
  }

  std::string body_limit_message() const {
    bool upload = body_limit_ != opts().max_body_bytes;
    return std::string("the request body is larger than ") +
           (upload ? "max_upload_bytes" : "max_body_bytes") + " (" + std::to_string(body_limit_) + " bytes)";
  }

  net::awaitable<void> header_error(const error_code& ec) {
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      co_await refuse(431, "header_too_large", "invalid_input",
                      "the request line and headers are larger than " +
                          std::to_string(opts().max_header_bytes) + " bytes (max_header_bytes)");
    } else if (ec == http::error::body_limit) {
      co_await refuse(413, "body_too_large", "invalid_input", body_limit_message());
    } else if (ec == beast::error::timeout) {
      // The stream closed the socket at the deadline; a slow sender just loses its connection.
      owner_.reject(408, "header_timeout", client_, "the headers did not arrive within header_timeout_s");
    } else if (ec != http::error::end_of_stream && ec != net::error::eof &&
               ec != net::error::operation_aborted && ec != net::error::connection_reset) {
      co_await refuse(400, "bad_request", "invalid_input", "malformed HTTP request: " + ec.message());
    }
  }

  // Header count and Expect; false when the connection must end.
  net::awaitable<bool> check_header(http::request_parser<http::string_body>& parser) {
    const auto& fields = parser.get();
    size_t count = static_cast<size_t>(std::distance(fields.begin(), fields.end()));
    if (count > opts().max_headers) {
      co_await refuse(431, "too_many_headers", "invalid_input",
                      "the request has " + std::to_string(count) + " header fields; at most " +
                          std::to_string(opts().max_headers) + " are accepted (max_headers)");
      co_return false;
    }
    if (auto it = fields.find(http::field::expect); it != fields.end() && !parser.is_done()) {
      if (!beast::iequals(it->value(), "100-continue")) {
        co_await refuse(417, "expectation_failed", "invalid_input",
                        "only 'Expect: 100-continue' is supported");
        co_return false;
      }
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      error_code ec;
      stream_.expires_after(opts().write_timeout);
      co_await net::async_write(stream_, net::buffer(kContinue), net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return false;
    }
    co_return true;
  }

  std::shared_ptr<Exchange> make_exchange(http::request<http::string_body>&& msg) {
    auto ex = std::make_shared<Exchange>();
    auto& req = ex->request;
    auto method = msg.method_string();
    auto target = msg.target();
    req.method.assign(method.data(), method.size());
    req.target.assign(target.data(), target.size());
    auto [path, query] = split_target(req.target);
    req.path = percent_decode(path, false);
    req.query = parse_query(query);
    for (const auto& field : msg) {
      auto name = field.name_string();
      auto value = field.value();
      req.headers.emplace_back(std::string(name.data(), name.size()),
                               std::string(value.data(), value.size()));
    }
    req.body = std::move(msg.body());
    req.remote_addr = client_;
    req.client_gone = ex->client_gone.get_token();
    ex->keep_alive = msg.keep_alive();
    ex->http11 = msg.version() >= 11;
    if (is_websocket_upgrade(msg)) ex->upgrade.emplace(msg.base());
    std::weak_ptr<Connection> weak = weak_from_this();
    auto exec = executor();
    ex->wake = [weak, exec] {
      net::post(exec, [weak] {
        if (auto c = weak.lock()) c->signal_.cancel();
      });
    };
    return ex;
  }

  // Hands the request to a worker and writes what it queues; false when the connection must end.
  net::awaitable<bool> exchange(http::request<http::string_body>&& msg) {
    auto ex = make_exchange(std::move(msg));
    exchange_ = ex;
    if (opening_) {
      opening_ = false;
      owner_.opened(true);
    } else {
      owner_.begin_request();
    }
    net::post(*owner_.workers, [owner = &owner_, ex] { run_handler(*owner, *ex); });
    watch_for_disconnect(ex);
    bool ok = co_await write_outbox(*ex);
    owner_.end_request();  // written (or failed): a shutdown may close the connection now
    error_code ignored;
    stream_.socket().cancel(ignored);  // ends the disconnect watch
    exchange_.reset();
    if (ok && ex->upgrade && ex->response.websocket) {
      co_await serve_websocket(*ex);
      co_return false;
    }
    co_return ok && ex->keep_alive && !owner_.is_stopping();
  }

  // The route accepted the upgrade: the socket is the WebSocket's from here on.
  net::awaitable<void> serve_websocket(Exchange& ex) {
    WebSocketConnection::Hooks hooks{[owner = &owner_] { owner->begin_request(); },
                                     [owner = &owner_] { owner->end_request(); }};
    websocket_ = std::make_shared<WebSocketConnection>(std::move(stream_), owner_.workers->get_executor(),
                                                       std::move(ex.response.websocket), std::move(hooks));
    if (closing_) websocket_->shutdown();  // a stop began while the route ran
    owner_.websocket_begins();
    struct Ends {
      HttpListener::Impl& owner;
      ~Ends() { owner.websocket_ends(); }
    } ends{owner_};
    co_await WebSocketConnection::serve(websocket_, std::move(*ex.upgrade), std::move(ex.response.headers));
  }

  // The client closing its socket while the worker runs ends the request: a readable socket with
  // nothing to read is the end of the stream. Bytes (a pipelined request) end the watch.
  void watch_for_disconnect(const std::shared_ptr<Exchange>& ex) {
    std::weak_ptr<Connection> weak = weak_from_this();
    stream_.socket().async_wait(tcp::socket::wait_read, [weak, ex](const error_code& ec) {
      auto self = weak.lock();
      if (!self || self->exchange_ != ex) return;
      if (ec) {
        if (ec != net::error::operation_aborted) ex->client_gone.request_stop();
        return;
      }
      char byte;
      ssize_t n = ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        ex->client_gone.request_stop();
      else if (n < 0)
        self->watch_for_disconnect(ex);  // spurious wake
    });
  }

  net::awaitable<bool> write_outbox(Exchange& ex) {
    for (;;) {
      std::deque<std::string> batch;
      bool done = false;
      {
        std::lock_guard lock(ex.mu);
        batch.swap(ex.outbox);
        done = ex.finished;
      }
      if (batch.empty()) {
        if (done) co_return true;
        error_code ec;
        signal_.expires_at(net::steady_timer::time_point::max());
        co_await signal_.async_wait(net::redirect_error(net::use_awaitable, ec));
        continue;
      }
      std::vector<net::const_buffer> buffers;
      buffers.reserve(batch.size());
      for (const auto& b : batch) buffers.push_back(net::buffer(b));
      error_code ec;
      stream_.expires_after(opts().write_timeout);
      co_await net::async_write(stream_, buffers, net::redirect_error(net::use_awaitable, ec));
      stream_.expires_never();
      {
        std::lock_guard lock(ex.mu);
        if (ec)
          ex.failed = true;
        else
          ex.written += batch.size();
      }
      ex.written_cv.notify_all();
      if (ec) {
        ex.client_gone.request_stop();
        co_return false;
      }
    }
  }

  static void run_handler(HttpListener::Impl& owner, Exchange& ex) {
    auto& res = ex.response;
    try {
      owner.handler(ex.request, res);
    } catch (const std::exception& e) {
      res = HttpResponse{};
      res.status = 500;
      res.set_content(error_json(500, "internal", std::string("unexpected server error: ") + e.what()),
                      "application/json");
    }
    const auto write_timeout = owner.options.write_timeout;
    if (res.websocket && !(res.status == 101 && ex.upgrade)) {
      res.websocket.reset();  // only an upgrade request can be answered with a WebSocket
      if (res.status == 101) {
        res.status = 400;
        res.set_content(error_json(400, "invalid_input",
                                   "a WebSocket needs an HTTP/1.1 GET with 'Upgrade: websocket' and "
                                   "'Connection: Upgrade'"),
                        "application/json");
      }
    }
    if (ex.upgrade) ex.keep_alive = false;  // refused: the client expected a handshake, not a next request
    if (owner.is_stopping()) ex.keep_alive = false;  // the connection closes after this answer: say so
    if (res.websocket) {
      ex.finish();  // WebSocketConnection writes the 101 response itself
      return;
    }
    if (!res.streamed()) {
      std::string bytes = serialize_head(res, ex.keep_alive, res.body.size(), false);
      bytes += res.body;
      ex.send(std::move(bytes), false, write_timeout);
    } else {
      if (!ex.http11) ex.keep_alive = false;  // HTTP/1.0: the end of the stream is the close
      ex.send(serialize_head(res, ex.keep_alive, std::nullopt, ex.http11), false, write_timeout);
      ChunkSink sink(ex, write_timeout);
      bool completed = false;
      try {
        completed = res.stream(sink);
      } catch (const std::exception&) {
        completed = false;
      }
      if (res.on_stream_end) res.on_stream_end();
      if (completed && ex.http11)
        ex.send("0\r\n\r\n", false, write_timeout);
      else if (!completed)
        ex.keep_alive = false;  // the client cannot tell where an unfinished stream ended
    }
    ex.finish();
  }

  HttpListener::Impl& owner_;
  beast::tcp_stream stream_;  // moved into websocket_ after an upgrade
  net::any_io_executor executor_;
  beast::flat_buffer buffer_;
  const std::string client_;
  net::steady_timer signal_;            // cancelled to wake write_outbox
  std::shared_ptr<Exchange> exchange_;  // the request in progress, if any (strand only)
  bool closing_ = false;                // strand only
  bool opening_ = true;                 // strand only: no request has begun yet (Impl::opening)
  size_t body_limit_ = 0;               // strand only: the body bound of the request being read
  std::shared_ptr<WebSocketConnection> websocket_;  // once upgraded (strand only)
};

std::vector<std::shared_ptr<Connection>> HttpListener::Impl::live_connections() const {
  std::vector<std::shared_ptr<Connection>> out;
  std::lock_guard lock(mu);
  for (const auto& [raw, weak] : connections)
    if (auto c = weak.lock()) out.push_back(std::move(c));
  return out;
}

net::awaitable<void> HttpListener::Impl::accept_loop() {
  net::steady_timer backoff(ioc);
  for (;;) {
    error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(net::make_strand(ioc), net::redirect_error(net::use_awaitable, ec));
    // A socket accepted just before a stop closed the acceptor is served like the stop's own.
    if (!ec) adopt(std::move(socket));
    if (ec == net::error::operation_aborted || !acceptor.is_open()) break;
    if (ec) {
      // Out of file descriptors (or similar): wait a little instead of spinning on accept.
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
  }
  // Every connection the kernel completed before the close is adopted (and counted in `opening`).
  std::lock_guard lock(mu);
  accepting = false;
  idle_cv.notify_all();
}

void HttpListener::Impl::adopt(tcp::socket socket) {
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  auto endpoint = socket.remote_endpoint(ec);
  if (ec) return;
  std::string client = endpoint.address().to_string();
  std::string why;
  if (!admit(client, &why)) {
    reject(503, "connection_limit", client, why);
    // A fresh socket's send buffer is empty: a short non-blocking send never waits.
    std::string bytes = plain_response(503, "unavailable", why);
    socket.non_blocking(true, ec);
    socket.send(net::buffer(bytes), 0, ec);
    socket.close(ec);
    return;
  }
  auto conn = std::make_shared<Connection>(*this, std::move(socket), std::move(client));
  auto executor = conn->executor();
  net::co_spawn(executor, Connection::run(std::move(conn)), net::detached);
}

// ---------------------------------------------------------------------------------------------------
HttpListener::HttpListener(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpListener::~HttpListener() { close(); }

int HttpListener::port() const { return impl_->port; }

Result<std::unique_ptr<HttpListener>> HttpListener::start(ListenerOptions options, Handler handler,
                                                          RejectHook on_reject) {
  if (options.io_threads < 1 || options.worker_threads < 1)
    return Error(ErrorCode::config_invalid, "the HTTP listener needs at least one I/O and one worker thread");
  auto impl = std::make_shared<Impl>();
  impl->options = std::move(options);
  impl->handler = std::move(handler);
  impl->on_reject = std::move(on_reject);
  const auto& o = impl->options;
  const std::string where = o.host + ":" + std::to_string(o.port);

  error_code ec;
  tcp::resolver resolver(impl->ioc);
  auto endpoints = resolver.resolve(o.host, std::to_string(o.port),
                                    tcp::resolver::numeric_service | tcp::resolver::passive, ec);
  if (ec || endpoints.empty())
    return Error(ErrorCode::unavailable, "cannot bind " + where + ": " + (ec ? ec.message() : "no address") +
                                             " (host must be an address or name of this machine)");
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  auto& acceptor = impl->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec && o.reuse_port)
    acceptor.set_option(net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (ec) {
    std::string hint = ec == net::error::address_in_use
                           ? " (another process listens there; choose another port with --port or [server] "
                             "port, or set [server] reuse_port = true to share it on purpose)"
                           : " (is the host an address of this machine?)";
    return Error(ErrorCode::unavailable, "cannot bind " + where + ": " + ec.message() + hint);
  }
  acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Error(ErrorCode::unavailable, "cannot listen on " + where + ": " + ec.message());
  impl->port = acceptor.local_endpoint(ec).port();

  impl->workers = std::make_unique<net::thread_pool>(static_cast<size_t>(o.worker_threads));
  Impl* raw = impl.get();
  net::co_spawn(impl->ioc, raw->accept_loop(), net::detached);
  for (int i = 0; i < o.io_threads; ++i) impl->io_threads.emplace_back([raw] { raw->ioc.run(); });
  return std::unique_ptr<HttpListener>(new HttpListener(std::move(impl)));
}

void HttpListener::stop_accepting() {
  auto& impl = *impl_;
  {
    std::lock_guard lock(impl.mu);
    if (impl.stopping) return;
    impl.stopping = true;
  }
  net::post(impl.ioc, [&impl] {
    // Connections the kernel completed but nobody accepted yet would be reset by the close with
    // their request already sent, which a proxy cannot safely send elsewhere: serve them first.
    error_code ec;
    impl.acceptor.non_blocking(true, ec);
    for (int i = 0; !ec && i < 4096; ++i) {
      tcp::socket socket(net::make_strand(impl.ioc));
      impl.acceptor.accept(socket, ec);
      if (!ec) impl.adopt(std::move(socket));
    }
    impl.acceptor.close(ec);
  });
  for (auto& c : impl.live_connections()) net::post(c->executor(), [c] { c->close_if_idle(); });
}

bool HttpListener::wait_idle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(impl_->mu);
  // In a stop, a WebSocket finishes its work, then its closing handshake (1001), before it is idle.
  return impl_->idle_cv.wait_until(lock, deadline, [&] {
    return impl_->in_progress == 0 &&
           (!impl_->stopping || (impl_->websockets == 0 && impl_->opening == 0 && !impl_->accepting));
  });
}

void HttpListener::close() {
  auto& impl = *impl_;
  stop_accepting();
  {
    std::lock_guard lock(impl.mu);
    if (impl.closed) return;
    impl.closed = true;
  }
  for (auto& c : impl.live_connections()) net::post(c->executor(), [c] { c->close_now(); });
  // Handlers see client_gone; the pool ends when the last one returns.
  impl.workers->join();
  {
    std::unique_lock lock(impl.mu);
    impl.idle_cv.wait_for(lock, std::chrono::seconds(5), [&] { return impl.connections.empty(); });
  }
  impl.ioc.stop();
  for (auto& t : impl.io_threads)
    if (t.joinable()) t.join();
}

HttpListener::Stats HttpListener::stats() const {
  std::lock_guard lock(impl_->mu);
  return {impl_->connections.size(), impl_->in_progress};
}

}  // namespace xervo::server
