#include "core/compute_lane.h"

#include <pthread.h>

#include <algorithm>

namespace xervo {
namespace {

class SteadyClock final : public ComputeLane::Clock {
 public:
  std::chrono::steady_clock::time_point now() const override { return std::chrono::steady_clock::now(); }
  bool is_steady() const override { return true; }
};

}  // namespace

std::shared_ptr<ComputeLane> ComputeLane::shared() {
  static std::mutex mu;
  static std::weak_ptr<ComputeLane> lane;
  std::lock_guard lk(mu);
  auto p = lane.lock();
  if (!p) {
    p = std::make_shared<ComputeLane>();
    lane = p;
  }
  return p;
}

ComputeLane::ComputeLane(std::shared_ptr<const Clock> clock)
    : clock_(clock ? std::move(clock) : std::make_shared<SteadyClock>()) {
  thread_ = std::thread([this] { loop(); });
  pthread_setname_np(thread_.native_handle(), "xervo-compute");
}

ComputeLane::~ComputeLane() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
}

void ComputeLane::attach(Worker* worker) {
  {
    std::lock_guard lk(mu_);
    entries_.push_back({worker, lead_, false});
    ++notified_;
  }
  work_cv_.notify_one();
}

void ComputeLane::detach(Worker* worker) {
  std::unique_lock lk(mu_);
  std::erase_if(entries_, [&](const Entry& e) { return e.worker == worker; });
  ++notified_;
  idle_cv_.wait(lk, [&] { return running_ != worker; });
}

void ComputeLane::notify() {
  {
    std::lock_guard lk(mu_);
    ++notified_;
  }
  work_cv_.notify_one();
}

void ComputeLane::notify_at(std::chrono::steady_clock::time_point when) {
  {
    std::lock_guard lk(mu_);
    if (wake_at_ && *wake_at_ <= when) return;
    wake_at_ = when;
  }
  work_cv_.notify_one();  // the lane may be asleep without a deadline, or with a later one
}

void ComputeLane::clock_advanced() {
  // Under the lock: a lane between reading the clock and waiting cannot miss this.
  std::lock_guard lk(mu_);
  work_cv_.notify_all();
}

void ComputeLane::loop() {
  std::unique_lock lk(mu_);
  uint64_t seen = notified_;
  while (!stopping_) {
    if (wake_at_ && clock_->now() >= *wake_at_) {
      wake_at_.reset();
      ++notified_;
    }
    if (notified_ != seen) {
      // Someone may have work again. Whoever was idle rejoins level with the busiest time so far:
      // time spent idle is not credit to run alone later.
      seen = notified_;
      for (auto& e : entries_) {
        if (e.idle) e.used = std::max(e.used, lead_);
        e.idle = false;
      }
    }
    Entry* next = nullptr;
    for (auto& e : entries_)
      if (!e.idle && (!next || e.used < next->used)) next = &e;
    if (next)
      run_step(lk, next->worker);
    else
      wait_for_work(lk, seen);
  }
}

void ComputeLane::wait_for_work(std::unique_lock<std::mutex>& lk, uint64_t seen) {
  auto woken = [&] { return stopping_ || notified_ != seen; };
  if (!wake_at_) {
    work_cv_.wait(lk, [&] { return woken() || wake_at_.has_value(); });
    return;
  }
  const auto when = *wake_at_;  // notify_at may move it earlier while this waits
  auto moved = [&] { return wake_at_ && *wake_at_ < when; };
  if (clock_->is_steady())
    work_cv_.wait_until(lk, when, [&] { return woken() || moved(); });
  else
    work_cv_.wait(lk, [&] { return woken() || moved() || clock_->now() >= when; });
}

void ComputeLane::run_step(std::unique_lock<std::mutex>& lk, Worker* worker) {
  const uint64_t before = notified_;
  running_ = worker;
  lk.unlock();
  const auto start = clock_->now();
  const bool did = worker->step();
  const auto took = clock_->now() - start;
  lk.lock();
  running_ = nullptr;
  idle_cv_.notify_all();
  // The entries may have changed while unlocked (attach, detach): find the worker again.
  for (auto& e : entries_) {
    if (e.worker != worker) continue;
    if (did) {
      e.used += took;
      lead_ = std::max(lead_, e.used);
    } else if (notified_ == before) {
      e.idle = true;  // a notify during the step means it may have work after all: ask again
    }
    break;
  }
}

}  // namespace xervo
