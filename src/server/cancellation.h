// Cancellation of running calls (generations, embeddings, reranks): each one is tracked with its
// deadline (request_timeout) and a stop_source. A watchdog thread requests stop when a deadline
// passes; cancel_all() stops every tracked call at the end of a shutdown's grace period. Thread-safe; stop
// requests (which run the engine's stop callbacks) are made outside the tracker's lock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string_view>
#include <thread>

#include "xervo/error.h"

namespace xervo::server {

class CancellationTracker {
 public:
  using Clock = std::chrono::steady_clock;

  struct State {
    std::stop_source source;
    std::atomic<bool> timed_out{false};      // the deadline passed
    std::atomic<bool> shutting_down{false};  // cancelled by cancel_all()
    std::atomic<bool> client_gone{false};    // the client closed its connection
    // Last member: destroyed (and waited for, if running) before the fields it writes.
    std::optional<std::stop_callback<std::function<void()>>> on_client_gone;
  };

  // Untracks on destruction.
  class Handle {
   public:
    Handle(CancellationTracker& owner, uint64_t id, std::shared_ptr<State> state, Clock::time_point deadline)
        : owner_(owner), id_(id), state_(std::move(state)), deadline_(deadline) {}
    ~Handle();
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;

    std::stop_token token() const { return state_->source.get_token(); }
    Clock::time_point deadline() const { return deadline_; }
    bool timed_out() const { return state_->timed_out.load(); }
    bool shutting_down() const { return state_->shutting_down.load(); }
    bool client_gone() const { return state_->client_gone.load(); }
    void cancel() { state_->source.request_stop(); }
    // The error for a call that ended cancelled, by why: timeout (504) past the deadline,
    // unavailable (503) in a shutdown, else cancelled (also when the client left). `what` names the call
    // ("the generation").
    Error error(std::chrono::seconds request_timeout, std::string_view what) const;

   private:
    CancellationTracker& owner_;
    uint64_t id_;
    std::shared_ptr<State> state_;
    Clock::time_point deadline_;
  };

  CancellationTracker();
  ~CancellationTracker();  // ends the watchdog; every Handle must be gone by then

  // Tracks a call until its deadline; `client_gone` (the connection's token) stops it as well.
  std::unique_ptr<Handle> track(Clock::time_point deadline, std::stop_token client_gone = {});
  void cancel_all();
  size_t size() const;

 private:
  struct Entry {
    Clock::time_point deadline;
    std::shared_ptr<State> state;
  };
  void untrack(uint64_t id);
  void watch();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Entry> entries_;  // GUARDED_BY(mu_)
  uint64_t next_id_ = 1;               // GUARDED_BY(mu_)
  bool quit_ = false;                  // GUARDED_BY(mu_)
  std::thread watchdog_;
};

}  // namespace xervo::server
