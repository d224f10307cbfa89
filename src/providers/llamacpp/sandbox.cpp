#include "providers/llamacpp/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>

namespace xervo::llamacpp {
namespace {

// The reply: one status byte, the payload's length (8 bytes, host order), the payload. A reply is
// complete only when all of it arrived: a child killed while writing leaves a short one.
constexpr size_t kHeader = 1 + sizeof(uint64_t);
constexpr int kReplyFd = 3;

uint64_t mapped_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0;
  statm >> pages;
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

void close_all_from(int first) {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, first, ~0U, 0) == 0) return;
#endif
  rlimit files{};
  const int top = ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < 65536
                      ? static_cast<int>(files.rlim_cur)
                      : 65536;
  for (int fd = first; fd < top; ++fd) ::close(fd);
}

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// Child only: the first allocation that fails ends the child as out of memory, at once. Code that
// catches every exception (llama.cpp's template capability checks do) would otherwise hide that the
// limit was reached and go on, and the caller would repeat the same work without a limit.
[[noreturn]] void on_allocation_failure() {
  char header[kHeader] = {'M'};  // an empty payload: the length bytes stay zero
  write_all(kReplyFd, header, kHeader);
  ::_exit(0);
}

[[noreturn]] void child_main(int reply_fd, const std::function<std::string()>& fn,
                             const SandboxLimits& limits, uint64_t mapped, pid_t parent) {
  // Die with the thread that waits for us; if it is already gone, so is the point of running.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);
  if (reply_fd != kReplyFd) {
    ::dup2(reply_fd, kReplyFd);
    reply_fd = kReplyFd;
  }
  // Other pipes of the process (another load's sandbox) must not stay open in this child.
  close_all_from(kReplyFd + 1);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int s : {SIGXCPU, SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) ::signal(s, SIG_DFL);
  ::signal(SIGPIPE, SIG_IGN);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  const auto cpu = static_cast<rlim_t>(std::max<int64_t>(1, limits.cpu.count()));
  const rlimit cpu_limit{cpu, cpu + 1};  // SIGXCPU at the soft limit, SIGKILL a second later
  ::setrlimit(RLIMIT_CPU, &cpu_limit);
  const rlimit as_limit{mapped + limits.extra_address_space, mapped + limits.extra_address_space};
  ::setrlimit(RLIMIT_AS, &as_limit);

  std::set_new_handler(on_allocation_failure);
  char status = 'R';
  std::string text;
  try {
    text = fn();
  } catch (const std::bad_alloc&) {
    status = 'M';
  } catch (const std::exception& e) {
    status = 'T';
    text = e.what();
  } catch (...) {
    status = 'T';
    text = "an exception that is not a std::exception";
  }
  if (text.size() > limits.max_reply + 1) text.resize(limits.max_reply + 1);
  char header[kHeader];
  header[0] = status;
  const uint64_t n = text.size();
  std::memcpy(header + 1, &n, sizeof n);
  write_all(reply_fd, header, kHeader);
  write_all(reply_fd, text.data(), text.size());
  ::_exit(0);
}

SandboxResult from_reply(const std::string& reply, const SandboxLimits& limits) {
  SandboxResult r;
  r.text = reply.substr(kHeader);
  if (r.text.size() > limits.max_reply) {
    r.outcome = SandboxResult::Outcome::reply_too_long;
  } else if (reply[0] == 'R') {
    r.outcome = SandboxResult::Outcome::returned;
  } else if (reply[0] == 'M' || r.text == "std::bad_alloc") {
    r.outcome = SandboxResult::Outcome::out_of_memory;
  } else {
    r.outcome = SandboxResult::Outcome::threw;
  }
  return r;
}

bool complete(const std::string& reply) {
  if (reply.size() < kHeader) return false;
  uint64_t n = 0;
  std::memcpy(&n, reply.data() + 1, sizeof n);
  return reply.size() == kHeader + n;
}

struct Reading {
  std::string reply;
  bool timed_out = false;
  bool too_long = false;
};

// Reads the child's reply until it closes the pipe (it exits), the deadline passes or the reply is
// too long.
Reading read_reply(int fd, std::chrono::steady_clock::time_point deadline, size_t max_reply) {
  Reading r;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      return r;
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 1 << 30)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) continue;  // the loop head decides whether the deadline has passed
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return r;  // end of file: the child has exited (only it held the write end)
    r.reply.append(buf, static_cast<size_t>(n));
    if (r.reply.size() > kHeader + max_reply + 1) {
      r.too_long = true;
      return r;
    }
  }
}

// Why a child gave no complete reply, from how the reading ended and how it exited.
SandboxResult without_reply(const Reading& reading, int status) {
  SandboxResult r;
  if (reading.too_long) {
    r.outcome = SandboxResult::Outcome::reply_too_long;
  } else if (reading.timed_out) {
    r.outcome = SandboxResult::Outcome::timed_out;
  } else if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL)) {
    r.outcome = SandboxResult::Outcome::cpu_exhausted;  // SIGKILL: the hard limit, a second later
    r.text = ::strsignal(WTERMSIG(status));
  } else if (WIFSIGNALED(status)) {
    r.text = "signal " + std::to_string(WTERMSIG(status)) + " (" + ::strsignal(WTERMSIG(status)) + ")";
  } else {
    r.text = "exited with status " + std::to_string(WEXITSTATUS(status)) + " and no reply";
  }
  return r;
}

}  // namespace

Result<SandboxResult> run_sandboxed(const std::function<std::string()>& fn, const SandboxLimits& limits) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return Error(ErrorCode::internal, std::string("cannot start a sandbox: pipe: ") + std::strerror(errno));
  const uint64_t mapped = mapped_bytes();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return Error(ErrorCode::internal, std::string("cannot start a sandbox: fork: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::close(fds[0]);
    child_main(fds[1], fn, limits, mapped, parent);
  }
  ::close(fds[1]);
  const Reading reading =
      read_reply(fds[0], std::chrono::steady_clock::now() + limits.wall, limits.max_reply);
  ::close(fds[0]);
  if (reading.timed_out || reading.too_long) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (complete(reading.reply)) return from_reply(reading.reply, limits);
  return without_reply(reading, status);
}

}  // namespace xervo::llamacpp
