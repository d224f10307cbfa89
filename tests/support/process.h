// Background processes for tests (llama-server as a reference, the xervo server): started with
// a timeout-bounded readiness check and always stopped by the destructor, so no test leaves a
// server behind. One object per process; not shared between threads.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace xervo::testing {

class ChildProcess {
 public:
  // Starts argv[0] (a path, or searched in PATH) with stdin from /dev/null and stdout + stderr
  // written to a log file. Throws std::runtime_error when it cannot start.
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool running();
  // SIGTERM, then SIGKILL after `grace`; returns the exit code (128 + signal when killed).
  int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  // Sends a signal to the process group (e.g. SIGINT to test cancellation).
  void signal(int sig);
  // Waits for exit up to `timeout`; nullopt when still running.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  std::string log() const;  // what it wrote on stdout and stderr so far
  // The port of the first "listening on http://HOST:PORT" line in the log: start a server with
  // port 0 (`xervo serve --port 0`, `llama-server --port 0`), let it bind, read the port back. The
  // race-free replacement of free_port(). nullopt when the process exits or `timeout` passes first.
  std::optional<int> wait_for_listening_port(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::filesystem::path log_path_;
};

// Polls GET /health on 127.0.0.1:port until it answers 200; false when the process exits or
// `deadline` passes first.
bool wait_healthy(ChildProcess& process, int port, std::chrono::steady_clock::time_point deadline);

// A llama.cpp `llama-server` on 127.0.0.1 serving one model, the reference for correctness tests.
class LlamaServer {
 public:
  // `args`: flags after `-m MODEL` ("--embeddings", "--reranking", "-c", "512"). Waits until
  // /health answers 200 (throws std::runtime_error with the server log after `timeout`).
  LlamaServer(const std::filesystem::path& model, const std::vector<std::string>& args,
              std::chrono::seconds timeout = std::chrono::seconds(60));
  ~LlamaServer();
  int port() const { return port_; }
  // POSTs JSON and returns the parsed answer; throws std::runtime_error on a transport error or a
  // non-2xx status (message holds the body).
  nlohmann::json post(const std::string& path, const nlohmann::json& body) const;

 private:
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// `xervo serve --port 0` on a config file: started, its port read back and /health waited for
// (throws std::runtime_error with the log when it does not come up within `timeout`); stopped by
// the destructor if the test did not stop it.
class XervoServe {
 public:
  XervoServe(const std::string& binary, const std::filesystem::path& config,
             const std::vector<std::string>& serve_args = {},
             std::chrono::seconds timeout = std::chrono::seconds(60));
  int port() const { return port_; }
  std::string url(const std::string& path = "") const;  // http://127.0.0.1:PORT + path
  ChildProcess& process() { return *process_; }
  std::string log() const { return process_->log(); }
  // SIGTERM, then the exit code; nullopt when it did not exit within `timeout`.
  std::optional<int> terminate(std::chrono::seconds timeout = std::chrono::seconds(30));

 private:
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace xervo::testing
