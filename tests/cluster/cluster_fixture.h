// The processes of a scale-out test on loopback, each started and stopped by the test: a Redis
// (redis-server on a unix socket), a stand-in OpenAI-compatible upstream in this process (answers
// /v1/embeddings after a configurable delay and counts what it was asked), N `xervo serve` replicas
// sharing one config, one batch folder and that Redis, and nginx with deploy/nginx/xervo.conf as
// shipped (its listen line pointed at a free port; the upstreams are the replicas).
#pragma once

#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "process.h"

namespace xervo::testing::cluster {

// A port nobody listens on now (bound and released: for processes that cannot report theirs).
int free_port();

class RedisProcess {
 public:
  explicit RedisProcess(std::filesystem::path dir);
  ~RedisProcess();
  void start();
  void stop();
  std::string url() const { return "unix://" + socket_.string(); }
  // redis-cli against it: its output.
  std::string cli(const std::vector<std::string>& args) const;

 private:
  std::filesystem::path dir_, socket_;
  std::unique_ptr<ChildProcess> process_;
};

class StandInUpstream {
 public:
  StandInUpstream();
  ~StandInUpstream();
  int port() const { return port_; }
  std::atomic<int> delay_ms{10};
  int calls_for(const std::string& input);
  int calls() const { return calls_.load(); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> calls_{0};
  std::mutex mu_;
  std::map<std::string, int> per_input_;
};

class Replica {
 public:
  Replica(std::filesystem::path config, std::filesystem::path home)
      : config_(std::move(config)), home_(std::move(home)) {}
  // Starts on `port` (0 the first time: any free one, remembered for restarts); waits for /health.
  void start();
  void kill();                // SIGKILL
  bool terminate_and_wait();  // SIGTERM, exit within 30 s
  int port() const { return port_; }
  std::string log() const { return process_ ? process_->log() : ""; }
  const std::filesystem::path& home() const { return home_; }
  bool running() { return process_ && process_->running(); }

 private:
  std::filesystem::path config_, home_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

class NginxProcess {
 public:
  NginxProcess(std::filesystem::path dir, const std::vector<int>& replica_ports);
  ~NginxProcess();
  int port() const { return port_; }
  std::string error_log() const;

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// GET/POST with a bearer key, nodelay, bounded timeouts. Status 0 when no answer came.
struct Answer {
  int status = 0;
  std::string body;
  httplib::Headers headers;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};
Answer http_get(int port, const std::string& path, const std::string& key);
Answer http_post(int port, const std::string& path, const nlohmann::json& body, const std::string& key,
                 const httplib::Headers& extra = {});

}  // namespace xervo::testing::cluster
