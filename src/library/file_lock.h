// Advisory locks on lock files (flock): exclusive, held for the life of the object and released by
// the kernel when the process dies, so a crash never leaves a lock behind. Two FileLocks on one
// path exclude each other across threads as well as processes (each holds its own open file).
#pragma once

#include <filesystem>
#include <optional>
#include <stop_token>

#include "xervo/error.h"

namespace xervo::library {

class FileLock {
 public:
  // Waits until the lock is held. A stop request ends the wait with cancelled; without a stop
  // token that can be requested, waits in the kernel.
  static Result<FileLock> acquire(const std::filesystem::path& path, std::stop_token stop = {});
  // The lock when it is free now, nullopt when someone holds it.
  static Result<std::optional<FileLock>> try_acquire(const std::filesystem::path& path);

  FileLock() = default;
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  bool held() const { return fd_ >= 0; }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace xervo::library
