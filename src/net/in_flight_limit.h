// InFlightLimit: at most N requests at once to one remote API (a provider's `max_in_flight`, to
// protect a paid API or a small upstream). Requests over it wait in a FIFO queue bounded in length
// (`max_queued`) and in time (`queue_timeout`); a full queue or a wait that runs out is an
// `unavailable` error at once, never an unbounded pile-up. Aliases whose settings name the same
// service, base URL and limits share one limit (shared()). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <utility>

#include "xervo/error.h"

namespace xervo::net {

class InFlightLimit {
 public:
  InFlightLimit(int max_in_flight, int max_queued) : max_(max_in_flight), max_queued_(max_queued) {}

  // Held while one request runs; gives its place to the next waiter when it goes.
  class Slot {
   public:
    explicit Slot(InFlightLimit* owner) : owner_(owner) {}
    Slot(Slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    Slot& operator=(Slot&&) = delete;
    ~Slot();

   private:
    InFlightLimit* owner_;
  };

  // A slot within `timeout`; unavailable (queue full, waited too long) or cancelled (`stop`).
  Result<Slot> acquire(std::chrono::milliseconds timeout, std::stop_token stop, const std::string& what);

  int in_flight() const;
  int queued() const;

  // The one limit of `key` with these bounds (created on first use; kept while any client holds it).
  static std::shared_ptr<InFlightLimit> shared(const std::string& key, int max_in_flight, int max_queued);

 private:
  void release();

  // One request waiting for a slot: a freed slot is handed to the oldest waiter directly (granted),
  // so the queue is first come, first served and a release wakes one thread.
  struct Waiter {
    std::condition_variable_any cv;
    bool granted = false;  // GUARDED_BY(mu_)
  };

  const int max_;
  const int max_queued_;
  mutable std::mutex mu_;
  int in_flight_ = 0;            // GUARDED_BY(mu_)
  std::deque<Waiter*> waiting_;  // GUARDED_BY(mu_), oldest first
};

}  // namespace xervo::net
