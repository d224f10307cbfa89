// Where the download workers of a pull post their bytes and the pulling thread waits for them:
// each post wakes the waiter, so progress is reported as it happens, without polling.
// Thread-safety: post() and worker_done() from any thread; wait() from one thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <vector>

namespace xervo::library {

class ProgressBoard {
 public:
  ProgressBoard(size_t parts, int workers) : bytes_(parts, 0), workers_(workers) {}

  void post(size_t part, uint64_t bytes_done) {
    {
      std::lock_guard lock(mutex_);
      bytes_[part] = bytes_done;
      ++version_;
    }
    cv_.notify_one();
  }
  void worker_done() {
    {
      std::lock_guard lock(mutex_);
      --workers_;
      ++version_;
    }
    cv_.notify_one();
  }

  struct Snapshot {
    uint64_t bytes_done = 0;
    bool finished = false;  // every worker is done
  };
  // Returns once something was posted since the last call, every worker is done, or `stop` is
  // requested (then it returns at once: pass an empty token to wait for the workers).
  Snapshot wait(std::stop_token stop) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, stop, [&] { return version_ != seen_ || workers_ == 0; });
    seen_ = version_;
    Snapshot s;
    for (uint64_t b : bytes_) s.bytes_done += b;
    s.finished = workers_ == 0;
    return s;
  }

 private:
  std::mutex mutex_;
  std::condition_variable_any cv_;
  std::vector<uint64_t> bytes_;  // GUARDED_BY(mutex_)
  int workers_;                  // GUARDED_BY(mutex_)
  uint64_t version_ = 0, seen_ = 0;
};

}  // namespace xervo::library
