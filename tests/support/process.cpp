// Background processes for tests. The child runs in its own process group so that stop() also
// ends whatever it started.
#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "test_models.h"

namespace xervo::testing {
namespace {

std::filesystem::path new_log_path() {
  static std::atomic<int> counter{0};
  return std::filesystem::temp_directory_path() /
         ("xervo-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".log");
}

int decode_status(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv) : log_path_(new_log_path()) {
  if (argv.empty()) throw std::runtime_error("ChildProcess: empty argv");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("ChildProcess: cannot open " + log_path_.string());
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(log_fd);
    throw std::runtime_error(std::string("ChildProcess: fork: ") + std::strerror(errno));
  }
  if (pid_ == 0) {
    ::setpgid(0, 0);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);  // also from the parent: no race with an early signal()
  ::close(log_fd);
}

ChildProcess::~ChildProcess() {
  stop();
  std::error_code ec;
  std::filesystem::remove(log_path_, ec);
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = decode_status(status);
      return exit_code_;
    }
    if (r < 0) {
      exit_code_ = -1;
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool ChildProcess::running() { return !wait(std::chrono::milliseconds(0)).has_value(); }

void ChildProcess::signal(int sig) {
  if (!exit_code_) ::kill(-pid_, sig);
}

int ChildProcess::stop(std::chrono::milliseconds grace) {
  if (exit_code_) return *exit_code_;
  signal(SIGTERM);
  if (auto code = wait(grace)) return *code;
  signal(SIGKILL);
  return wait(std::chrono::milliseconds(10000)).value_or(-1);
}

std::string ChildProcess::log() const {
  std::ifstream in(log_path_);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<int> ChildProcess::wait_for_listening_port(std::chrono::milliseconds timeout) {
  static const std::regex line(R"(listening on https?://(\[[^\]]*\]|[^\s/:]+):(\d+))");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::string text = log();
    std::smatch m;
    if (std::regex_search(text, m, line)) return std::stoi(m[2]);
    if (!running() || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the child writes when it is ready
  }
}

LlamaServer::LlamaServer(const std::filesystem::path& model, const std::vector<std::string>& args,
                         std::chrono::seconds timeout) {
  // Port 0: the server binds a free port itself and logs it, so no other process can take it first.
  std::vector<std::string> argv = {
      llama_tool("llama-server").string(), "-m", model.string(), "--host", "127.0.0.1", "--port", "0"};
  argv.insert(argv.end(), args.begin(), args.end());
  process_ = std::make_unique<ChildProcess>(argv);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto fail = [&](const std::string& why) {
    std::string log = process_->log();
    process_->stop();
    if (log.size() > 4000) log = "..." + log.substr(log.size() - 4000);
    throw std::runtime_error("llama-server " + why + " for " + model.string() + ":\n" + log);
  };
  auto port =
      process_->wait_for_listening_port(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  if (!port) fail("did not say where it listens");
  port_ = *port;
  // It listens before its model is loaded (/health answers 503 until then).
  if (!wait_healthy(*process_, port_, deadline)) fail("did not become healthy");
}

LlamaServer::~LlamaServer() = default;

bool wait_healthy(ChildProcess& process, int port, std::chrono::steady_clock::time_point deadline) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(1));
  while (std::chrono::steady_clock::now() < deadline && process.running()) {
    if (auto res = client.Get("/health"); res && res->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

XervoServe::XervoServe(const std::string& binary, const std::filesystem::path& config,
                       const std::vector<std::string>& serve_args, std::chrono::seconds timeout) {
  std::vector<std::string> argv = {binary, "--config", config.string(), "serve", "--port", "0"};
  argv.insert(argv.end(), serve_args.begin(), serve_args.end());
  process_ = std::make_unique<ChildProcess>(argv);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto port =
      process_->wait_for_listening_port(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  if (!port || !wait_healthy(*process_, *port, deadline)) {
    std::string log = process_->log();
    process_->stop();
    throw std::runtime_error("xervo serve did not come up on " + config.string() + ":\n" + log);
  }
  port_ = *port;
}

std::string XervoServe::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::optional<int> XervoServe::terminate(std::chrono::seconds timeout) {
  process_->signal(SIGTERM);
  return process_->wait(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
}

nlohmann::json LlamaServer::post(const std::string& path, const nlohmann::json& body) const {
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(std::chrono::seconds(120));
  auto res = client.Post(path, body.dump(), "application/json");
  if (!res) throw std::runtime_error("llama-server " + path + ": " + httplib::to_string(res.error()));
  if (res->status < 200 || res->status >= 300)
    throw std::runtime_error("llama-server " + path + ": HTTP " + std::to_string(res->status) + ": " +
                             res->body);
  return nlohmann::json::parse(res->body);
}

}  // namespace xervo::testing
