// The threads inside a scheduler's run(): a scheduler's destructor closes the door, ends what they
// wait for, then waits for the last of them to leave before the members they still touch (its
// mutex, the lane, their stop callbacks) go. Safe from any thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace xervo::llamacpp {

class Callers {
 public:
  // Held by a caller for as long as it is inside; empty (false) when the door is closed.
  class Pass {
   public:
    explicit Pass(Callers* callers) : callers_(callers) {}
    Pass(Pass&& other) noexcept : callers_(other.callers_) { other.callers_ = nullptr; }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    Pass& operator=(Pass&&) = delete;
    ~Pass() {
      if (callers_) callers_->leave();
    }
    explicit operator bool() const { return callers_ != nullptr; }

   private:
    Callers* callers_;
  };

  Pass enter() {
    std::lock_guard lk(mu_);
    if (closed_) return Pass(nullptr);
    ++inside_;
    return Pass(this);
  }
  void close() {
    std::lock_guard lk(mu_);
    closed_ = true;
  }
  void wait_until_empty() {
    std::unique_lock lk(mu_);
    left_.wait(lk, [&] { return inside_ == 0; });
  }

 private:
  void leave() {
    std::lock_guard lk(mu_);  // notified under the lock: the waiter cannot destroy this before we let go
    if (--inside_ == 0) left_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable left_;
  size_t inside_ = 0;    // GUARDED_BY(mu_)
  bool closed_ = false;  // GUARDED_BY(mu_)
};

}  // namespace xervo::llamacpp
