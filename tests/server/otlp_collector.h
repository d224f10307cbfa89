// An OTLP/HTTP (JSON) endpoint inside a test: keeps every span it is sent, with helpers to find spans
// and read their attributes. Tests only.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace xervo::testing {

// An OTLP/HTTP endpoint in the test: keeps every span it is sent.
class Collector {
 public:
  Collector() {
    server_.Post("/v1/traces", [this](const httplib::Request& req, httplib::Response& res) {
      auto body = nlohmann::json::parse(req.body);
      std::lock_guard lock(mu_);
      for (const auto& rs : body["resourceSpans"])
        for (const auto& ss : rs["scopeSpans"])
          for (const auto& s : ss["spans"]) spans_.push_back(s);
      res.set_content("{}", "application/json");
    });
    server_.set_keep_alive_max_count(1);  // stop() does not wait for an idle keep-alive connection
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the listen loop runs would be lost, and the destructor's join would wait forever.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Collector() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1/traces"; }
  std::vector<nlohmann::json> spans() {
    std::lock_guard lock(mu_);
    return spans_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<nlohmann::json> spans_;
};

inline std::string attr(const nlohmann::json& span, const std::string& key) {
  for (const auto& a : span.value("attributes", nlohmann::json::array()))
    if (a["key"] == key) return a["value"].begin().value().dump();
  return "";
}

inline const nlohmann::json* named(const std::vector<nlohmann::json>& spans, std::string_view name) {
  for (const auto& s : spans)
    if (s["name"] == name) return &s;
  return nullptr;
}

// A port nothing listens on: bound to get a free number, then closed.
inline int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    ADD_FAILURE() << "no socket for a closed port";
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace xervo::testing
