// A small WebSocket client for the server tests, on Boost.Beast: connect to /v1/ws (with headers,
// offered subprotocols and an optional tiny receive buffer), send text or binary, read JSON messages, see
// server pings and how the connection ended. Every wait has a bound, so a failing test never hangs.
// One thread at a time. Tests only.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without including it
// clang-format off
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
// clang-format on

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace xervo::testing {

class WsClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // Connects to /v1/ws, offering `protocols` (Sec-WebSocket-Protocol) with `headers`, on a socket
  // whose SO_RCVBUF is `receive_buffer` when set, and runs the handshake: the response's status (101
  // when accepted, else the refusal with its body in response()); 0 when no answer came.
  int connect(int port, std::vector<std::string> protocols = {}, Headers headers = {},
              int receive_buffer = 0) {
    namespace net = boost::asio;
    namespace websocket = boost::beast::websocket;
    auto& socket = boost::beast::get_lowest_layer(ws_).socket();
    boost::system::error_code ec;
    socket.open(net::ip::tcp::v4(), ec);
    if (receive_buffer > 0) socket.set_option(net::socket_base::receive_buffer_size(receive_buffer));
    socket.connect({net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}, ec);
    if (ec) return 0;
    std::string offered;
    for (const auto& p : protocols) offered += (offered.empty() ? "" : ", ") + p;
    ws_.set_option(websocket::stream_base::decorator([offered, headers](websocket::request_type& req) {
      if (!offered.empty()) req.set(boost::beast::http::field::sec_websocket_protocol, offered);
      for (const auto& [name, value] : headers) req.set(name, value);
    }));
    ws_.control_callback([this](websocket::frame_type kind, boost::beast::string_view) {
      if (kind == websocket::frame_type::ping) ++pings_;
    });
    bool done = false;
    ws_.async_handshake(response_, "127.0.0.1:" + std::to_string(port), "/v1/ws",
                        [&](boost::system::error_code e) {
                          done = true;
                          ec = e;
                        });
    if (!pump([&] { return done; })) return 0;
    return response_.result_int();
  }

  const boost::beast::websocket::response_type& response() const { return response_; }
  std::string response_header(boost::beast::http::field f) const { return std::string(response_[f]); }

  bool send(const std::string& text, bool binary = false) {
    bool done = false;
    boost::system::error_code ec;
    ws_.binary(binary);
    ws_.async_write(boost::asio::buffer(text), [&](boost::system::error_code e, size_t) {
      done = true;
      ec = e;
    });
    return pump([&] { return done; }) && !ec;
  }
  bool send(const nlohmann::json& message) { return send(message.dump()); }

  // The next message as JSON; nullopt when the connection ended (see closed()) or nothing came.
  std::optional<nlohmann::json> read(std::chrono::seconds limit = std::chrono::seconds(30)) {
    start_read();
    if (!pump([&] { return !reading_; }, limit)) return std::nullopt;
    if (read_error_) return std::nullopt;
    auto text = boost::beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    return nlohmann::json::parse(text, nullptr, false);
  }

  // Reads (dropping messages) until the connection ends; the close code the server sent, 1006 when
  // it ended without one, 0 when it did not end within `limit`.
  int read_until_closed(std::chrono::seconds limit = std::chrono::seconds(30)) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      start_read();
      if (!pump([&] { return !reading_; }, limit)) return 0;
      if (read_error_) return close_code();
      buffer_.consume(buffer_.size());
    }
    return 0;
  }

  // Waits (reading, which answers pings) until the server has pinged `n` times.
  bool wait_for_pings(int n, std::chrono::seconds limit = std::chrono::seconds(30)) {
    start_read();
    return pump([&] { return pings_ >= n || !reading_; }, limit) && pings_ >= n;
  }

  int close_code() const {
    if (read_error_ == boost::beast::websocket::error::closed) return ws_.reason().code;
    return 1006;
  }
  std::string close_reason() const { return std::string(ws_.reason().reason.c_str()); }
  bool closed() const { return static_cast<bool>(read_error_); }
  std::string read_error() const { return read_error_.message(); }

  // Ends the TCP connection without a closing handshake.
  void drop() {
    boost::system::error_code ignored;
    boost::beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  void start_read() {
    if (reading_ || read_error_) return;
    reading_ = true;
    ws_.async_read(buffer_, [this](boost::system::error_code e, size_t) {
      reading_ = false;
      read_error_ = e;
    });
  }

  // Runs the client's handlers until `done()` or `limit`; false on the limit.
  template <typename F>
  bool pump(F done, std::chrono::seconds limit = std::chrono::seconds(30)) {
    auto end = std::chrono::steady_clock::now() + limit;
    ioc_.restart();
    while (!done()) {
      // 0: the limit passed, or nothing is left to run (then nothing will make `done` true).
      if (ioc_.run_one_until(end) == 0 && (std::chrono::steady_clock::now() >= end || ioc_.stopped()))
        return done();
    }
    return true;
  }

  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_{ioc_};
  boost::beast::websocket::response_type response_;
  boost::beast::flat_buffer buffer_;
  bool reading_ = false;
  boost::system::error_code read_error_;
  int pings_ = 0;
};

}  // namespace xervo::testing
