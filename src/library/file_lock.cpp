#include "library/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <utility>

namespace xervo::library {
namespace fs = std::filesystem;

namespace {

Result<int> open_lock_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return Error(ErrorCode::io_error, "cannot open lock " + path.string() + ": " + std::strerror(errno));
  return fd;
}

Error lock_error(const fs::path& path, int err) {
  return Error(ErrorCode::io_error, "cannot lock " + path.string() + ": " + std::strerror(err));
}

}  // namespace

Result<FileLock> FileLock::acquire(const fs::path& path, std::stop_token stop) {
  auto fd = open_lock_file(path);
  if (!fd) return fd.error();
  FileLock lock(*fd);
  if (!stop.stop_possible()) {
    while (::flock(*fd, LOCK_EX) != 0)
      if (errno != EINTR) return lock_error(path, errno);
    return lock;
  }
  // flock cannot be woken by a stop request: try, then wait a little on the stop token, again.
  std::mutex m;
  std::condition_variable_any cv;
  for (;;) {
    if (::flock(*fd, LOCK_EX | LOCK_NB) == 0) return lock;
    if (errno != EWOULDBLOCK && errno != EINTR) return lock_error(path, errno);
    std::unique_lock guard(m);
    cv.wait_for(guard, stop, std::chrono::milliseconds(50), [] { return false; });
    if (stop.stop_requested())
      return Error(ErrorCode::cancelled, "cancelled while waiting for " + path.string());
  }
}

Result<std::optional<FileLock>> FileLock::try_acquire(const fs::path& path) {
  auto fd = open_lock_file(path);
  if (!fd) return fd.error();
  FileLock lock(*fd);
  if (::flock(*fd, LOCK_EX | LOCK_NB) == 0) return std::optional<FileLock>(std::move(lock));
  if (errno == EWOULDBLOCK) return std::optional<FileLock>();
  return lock_error(path, errno);
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  std::swap(fd_, other.fd_);
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace xervo::library
