#include "core/compute_lane.h"

#include <pthread.h>

#include <algorithm>

namespace xervo {

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

ComputeLane::ComputeLane() {
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

void ComputeLane::loop() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock lk(mu_);
  uint64_t seen = notified_;
  while (!stopping_) {
    if (wake_at_ && Clock::now() >= *wake_at_) {
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
    if (!next) {
      auto woken = [&] { return stopping_ || notified_ != seen; };
      if (wake_at_) {
        const auto when = *wake_at_;  // notify_at may move it earlier while this waits
        work_cv_.wait_until(lk, when, [&] { return woken() || (wake_at_ && *wake_at_ < when); });
      } else {
        work_cv_.wait(lk, [&] { return woken() || wake_at_.has_value(); });
      }
      continue;
    }
    Worker* worker = next->worker;
    const uint64_t before = notified_;
    running_ = worker;
    lk.unlock();
    const auto start = Clock::now();
    const bool did = worker->step();
    const auto took = Clock::now() - start;
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
}

}  // namespace xervo
