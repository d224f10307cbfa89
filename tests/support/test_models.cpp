// Generated models are cached per build folder; a file lock makes parallel test processes wait for
// one generator instead of all writing the same (possibly 500 MB) file at once.
#include "test_models.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "testmodel.h"

namespace xervo::testing {
namespace {

// Bump when the generator's output changes, so stale cached files are not reused.
constexpr const char* kCacheVersion = "v1";

std::string cache_name(std::string_view kind, std::string_view size, std::string_view extra) {
  std::string name = std::string(kind) + "-" + std::string(size);
  std::string suffix;
  for (char c : extra) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.')
      suffix += c;
    else if (!suffix.empty() && suffix.back() != '-')
      suffix += '-';
  }
  while (!suffix.empty() && suffix.back() == '-') suffix.pop_back();
  while (!suffix.empty() && suffix.front() == '-') suffix.erase(0, 1);
  if (!suffix.empty()) name += "-" + suffix;
  return name + "-" + kCacheVersion + ".gguf";
}

std::vector<std::string> split_words(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

CommandResult run(const std::vector<std::string>& argv, const std::string* input,
                  std::chrono::seconds timeout) {
  if (argv.empty()) throw std::runtime_error("run_command: empty argv");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out_pipe[2], err_pipe[2], in_pipe[2] = {-1, -1};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 ||
      (input && ::pipe2(in_pipe, O_CLOEXEC) != 0))
    throw std::runtime_error(std::string("run_command: pipe: ") + std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("run_command: fork: ") + std::strerror(errno));
  if (pid == 0) {  // child: only async-signal-safe calls until exec
    ::setpgid(0, 0);
    if (input) {
      ::dup2(in_pipe[0], 0);
    } else {
      int devnull = ::open("/dev/null", O_RDONLY);
      ::dup2(devnull, 0);
    }
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  FdCloser out_fd{out_pipe[0]}, err_fd{err_pipe[0]};
  if (input) {
    ::close(in_pipe[0]);
    // Small inputs only (test scripts): fits in the pipe buffer; a child that exits early gives EPIPE.
    ::signal(SIGPIPE, SIG_IGN);
    size_t off = 0;
    while (off < input->size()) {
      ssize_t n = ::write(in_pipe[1], input->data() + off, input->size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(in_pipe[1]);
  }
  CommandResult result{-1, {}, {}, false};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    pollfd fds[2] = {{out_open ? out_fd.fd : -1, POLLIN, 0}, {err_open ? err_fd.fd : -1, POLLIN, 0}};
    int ready = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0)
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      else if (n == 0 || errno != EINTR)
        (i == 0 ? out_open : err_open) = false;
    }
  }
  int status = 0;
  if (!result.timed_out) {
    // Output closed; the process normally exits right after. Bound the wait anyway.
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        result.timed_out = true;
        ::kill(-pid, SIGKILL);
        break;
      }
      ::usleep(5000);
    }
  }
  if (result.timed_out) ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace

std::filesystem::path vocab_dir() { return XERVO_VOCAB_DIR; }

std::filesystem::path llama_tool(std::string_view name) {
  return std::filesystem::path(XERVO_LLAMA_BIN) / std::string(name);
}

std::filesystem::path test_model(std::string_view kind, std::string_view size, std::string_view extra) {
  static std::mutex mutex;  // one generator per process at a time; the file lock covers processes
  std::lock_guard lock(mutex);
  const std::filesystem::path dir = XERVO_TEST_MODELS_DIR;
  const auto path = dir / cache_name(kind, size, extra);
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return path;
  std::filesystem::create_directories(dir, ec);
  const auto lock_path = path.string() + ".lock";
  FdCloser lock_fd{::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)};
  if (lock_fd.fd < 0 || ::flock(lock_fd.fd, LOCK_EX) != 0)
    throw std::runtime_error("test_model: cannot lock " + lock_path + ": " + std::strerror(errno));
  if (std::filesystem::exists(path, ec)) return path;  // another process made it while we waited

  std::vector<std::string> args = {"--kind", std::string(kind), "--size", std::string(size)};
  for (auto& w : split_words(extra)) args.push_back(std::move(w));
  auto options = testmodel::parse_test_model_args(args, /*require_output=*/false);
  if (!options)
    throw std::runtime_error("test_model(" + std::string(kind) + "): " + options.error().message());
  options->output = path;
  if (auto written = testmodel::write_test_model(*options); !written)
    throw std::runtime_error("test_model: " + written.error().to_string());
  return path;
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  return run(argv, nullptr, timeout);
}

CommandResult run_command_with_input(const std::vector<std::string>& argv, const std::string& input,
                                     std::chrono::seconds timeout) {
  return run(argv, &input, timeout);
}

int free_port() {
  FdCloser fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (fd.fd < 0) throw std::runtime_error("free_port: socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error(std::string("free_port: bind: ") + std::strerror(errno));
  socklen_t len = sizeof addr;
  ::getsockname(fd.fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

}  // namespace xervo::testing
