// The compute lane: one step at a time, time shared between busy workers, no credit for idling,
// wake on notify, detach waits for a step in progress.
#include "core/compute_lane.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <latch>
#include <optional>
#include <thread>

namespace xervo {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Waits (up to a generous deadline) for `done`; false if it never came.
bool eventually(const std::function<bool()>& done) {
  const auto deadline = Clock::now() + 30s;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Always has work while `busy`: each step sleeps `step_time` and counts itself.
class BusyWorker final : public ComputeLane::Worker {
 public:
  BusyWorker(std::chrono::microseconds step_time, std::atomic<int>* inside = nullptr)
      : step_time_(step_time), inside_(inside) {}

  bool step() override {
    if (!busy.load()) return false;
    if (inside_ && inside_->fetch_add(1) != 0) overlapped = true;
    const auto start = Clock::now();
    std::this_thread::sleep_for(step_time_);
    time_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
    if (inside_) inside_->fetch_sub(1);
    ++steps;
    return true;
  }

  std::atomic<bool> busy{true};
  std::atomic<int> steps{0};
  std::atomic<int64_t> time_ns{0};
  std::atomic<bool> overlapped{false};

 private:
  std::chrono::microseconds step_time_;
  std::atomic<int>* inside_;
};

// Runs the jobs the test queues, one a step.
class QueueWorker final : public ComputeLane::Worker {
 public:
  explicit QueueWorker(ComputeLane& lane) : lane_(lane) {}

  void push(std::function<void()> job) {
    {
      std::lock_guard lk(mu_);
      jobs_.push_back(std::move(job));
    }
    lane_.notify();
  }

  bool step() override {
    std::function<void()> job;
    {
      std::lock_guard lk(mu_);
      if (jobs_.empty()) return false;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
    ++steps;
    return true;
  }

  std::atomic<int> steps{0};

 private:
  ComputeLane& lane_;
  std::mutex mu_;
  std::deque<std::function<void()>> jobs_;
};

TEST(ComputeLane, StepsOfDifferentWorkersNeverOverlap) {
  ComputeLane lane;
  std::atomic<int> inside{0};
  BusyWorker a(200us, &inside), b(200us, &inside), c(200us, &inside);
  lane.attach(&a);
  lane.attach(&b);
  lane.attach(&c);
  EXPECT_TRUE(eventually([&] { return a.steps >= 20 && b.steps >= 20 && c.steps >= 20; }));
  lane.detach(&a);
  lane.detach(&b);
  lane.detach(&c);
  EXPECT_FALSE(a.overlapped || b.overlapped || c.overlapped);
}

TEST(ComputeLane, BusyWorkersShareTimeNotSteps) {
  ComputeLane lane;
  BusyWorker slow(8ms), fast(1ms);  // an embedder's big batches, a generator's small steps
  lane.attach(&slow);
  lane.attach(&fast);
  EXPECT_TRUE(eventually([&] { return slow.steps >= 10; }));
  lane.detach(&slow);
  lane.detach(&fast);
  // Turn by turn the fast worker would get 10 steps (10 ms) to the slow one's 80 ms.
  EXPECT_GT(fast.steps.load(), 2 * slow.steps.load());
  EXPECT_GT(fast.time_ns.load(), slow.time_ns.load() / 2);
}

TEST(ComputeLane, AWorkerBackFromIdleGetsNoCreditForIt) {
  ComputeLane lane;
  BusyWorker busy(1ms), late(1ms);
  late.busy = false;
  lane.attach(&busy);
  lane.attach(&late);
  EXPECT_TRUE(eventually([&] { return busy.steps >= 60; }));  // `late` idles through ~60 ms
  const int busy_before = busy.steps;
  late.busy = true;
  lane.notify();
  EXPECT_TRUE(eventually([&] { return late.steps >= 20; }));
  const int busy_during = busy.steps - busy_before;
  lane.detach(&busy);
  lane.detach(&late);
  // With credit for its idle time `late` would have run its first ~60 steps alone.
  EXPECT_GE(busy_during, 8) << "the worker back from idle ran alone";
}

TEST(ComputeLane, AnIdleLaneRunsNewWorkWhenNotified) {
  ComputeLane lane;
  QueueWorker worker(lane);
  lane.attach(&worker);
  for (int i = 0; i < 3; ++i) {
    std::promise<void> ran;
    worker.push([&] { ran.set_value(); });
    EXPECT_EQ(ran.get_future().wait_for(30s), std::future_status::ready);
    std::this_thread::sleep_for(20ms);  // the lane goes back to sleep
  }
  lane.detach(&worker);
  EXPECT_EQ(worker.steps.load(), 3);
}

TEST(ComputeLane, DetachWaitsForTheStepInProgressAndEndsTheSteps) {
  ComputeLane lane;
  QueueWorker worker(lane);
  lane.attach(&worker);
  std::latch entered(1), release(1);
  worker.push([&] {
    entered.count_down();
    release.wait();
  });
  entered.wait();
  std::atomic<bool> detached{false};
  std::thread t([&] {
    lane.detach(&worker);
    detached = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(detached.load()) << "detach returned while the worker's step was running";
  release.count_down();
  t.join();
  EXPECT_TRUE(detached.load());
  worker.push([] {});
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(worker.steps.load(), 1) << "a detached worker was stepped";
}

// Holds its one job back until a deadline, as a batch gathering inputs does.
class DeferringWorker final : public ComputeLane::Worker {
 public:
  DeferringWorker(ComputeLane& lane, Clock::time_point until) : lane_(lane), until_(until) {}
  bool step() override {
    ++calls;
    if (Clock::now() < until_) {
      lane_.notify_at(until_);
      return false;
    }
    if (!ran_at.has_value()) ran_at = Clock::now();
    return false;  // nothing more to do
  }
  std::atomic<int> calls{0};
  std::optional<Clock::time_point> ran_at;  // written on the lane thread, read after detach

 private:
  ComputeLane& lane_;
  Clock::time_point until_;
};

TEST(ComputeLane, NotifyAtWakesAnIdleLaneAtTheDeadlineAndNotBefore) {
  ComputeLane lane;
  const auto until = Clock::now() + 40ms;
  DeferringWorker worker(lane, until);
  lane.attach(&worker);
  EXPECT_TRUE(eventually([&] { return Clock::now() > until + 20ms && worker.calls >= 2; }));
  lane.detach(&worker);
  ASSERT_TRUE(worker.ran_at.has_value()) << "the lane never came back at the deadline";
  EXPECT_GE(*worker.ran_at, until);
  EXPECT_LE(worker.calls.load(), 3) << "the lane polled instead of sleeping until the deadline";
}

TEST(ComputeLane, SharedIsOneLaneWhileItIsInUse) {
  auto a = ComputeLane::shared();
  auto b = ComputeLane::shared();
  EXPECT_EQ(a.get(), b.get());
}

}  // namespace
}  // namespace xervo
