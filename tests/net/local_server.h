// An in-process HTTP server on 127.0.0.1 (cpp-httplib) for tests of the HTTP client and the remote
// providers: handlers are set before start(); the destructor stops it. Counters are atomics so
// handlers on server threads and the test thread may touch them.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace xervo::testing {

class LocalServer {
 public:
  // Connections close after each response unless `keep_alive`: a client's pooled idle connection
  // would otherwise hold a server thread until its keep-alive timeout and delay stop().
  explicit LocalServer(bool keep_alive = false) {
    server_.set_keep_alive_max_count(keep_alive ? 1000 : 1);
    // Without it, a reused connection waits ~40 ms per response (Nagle against delayed ACKs).
    server_.set_tcp_nodelay(true);
    server_.set_read_timeout(5, 0);
    server_.set_write_timeout(5, 0);
  }
  ~LocalServer() { stop(); }
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  httplib::Server& http() { return server_; }

  // Binds a free port on `host` and serves on a background thread.
  void start(const std::string& host = "127.0.0.1") {
    port_ = server_.bind_to_any_port(host);
    if (port_ <= 0) throw std::runtime_error("cannot bind a test server on " + host);
    host_ = host;
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the accept loop runs would be lost and join() would hang: wait for it.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void stop() {
    release();
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }

  int port() const { return port_; }
  std::string url(const std::string& path = "") const {
    return "http://" + host_ + ":" + std::to_string(port_) + path;
  }

  // For handlers that must hang: waits until release() (the test is done) or `limit`.
  void hang(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, limit, [this] { return released_; });
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      released_ = true;
    }
    cv_.notify_all();
  }

  std::atomic<int> requests{0};
  std::atomic<int> disconnects{0};

 private:
  httplib::Server server_;
  std::thread thread_;
  std::string host_ = "127.0.0.1";
  int port_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool released_ = false;
};

}  // namespace xervo::testing
