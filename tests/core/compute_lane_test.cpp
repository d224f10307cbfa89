// The compute lane: one step at a time, time shared between busy workers, no credit for idling,
// wake on notify, detach waits for a step in progress. Time sharing is checked exactly: the steps
// advance a manual clock instead of sleeping, so the order of steps is fully determined.
#include "core/compute_lane.h"

#include <algorithm>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <latch>
#include <mutex>
#include <optional>
#include <string>
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

// A clock that moves only when told: steps "take" exactly what they advance it by.
class ManualClock final : public ComputeLane::Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns_.load()));
  }
  bool is_steady() const override { return false; }
  void advance(std::chrono::nanoseconds d) { ns_ += d.count(); }

 private:
  std::atomic<int64_t> ns_{1'000'000'000};
};

// The order in which steps ran, one letter per step, up to `limit` steps; `full` opens at the limit.
struct StepLog {
  explicit StepLog(size_t limit) : limit(limit) {}
  // Appends `who`; false (and nothing appended) once the log is full.
  bool add(char who) {
    std::lock_guard lk(mu);
    if (text.size() >= limit) return false;
    text += who;
    if (text.size() == limit) full.count_down();
    return true;
  }
  std::string str() {
    std::lock_guard lk(mu);
    return text;
  }
  const size_t limit;
  std::latch full{1};
  std::mutex mu;
  std::string text;
};

// Has work until the log is full; each step costs `cost` on the manual clock. `hook(n)` runs inside
// the n-th step (from 1), after it is logged, for tests that hold the lane at a chosen point.
class TimedWorker final : public ComputeLane::Worker {
 public:
  TimedWorker(char name, std::chrono::milliseconds cost, ManualClock& clock, StepLog& log)
      : name_(name), cost_(cost), clock_(clock), log_(log) {}
  bool step() override {
    if (!busy.load()) return false;
    clock_.advance(cost_);
    if (!log_.add(name_)) return false;
    ++steps_;
    if (hook) hook(steps_);
    return true;
  }
  std::atomic<bool> busy{true};
  std::function<void(int)> hook;

 private:
  char name_;
  std::chrono::milliseconds cost_;
  ManualClock& clock_;
  StepLog& log_;
  int steps_ = 0;  // lane thread only
};

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

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
      if (jobs_.empty()) {
        ++empty_steps_;
        empty_cv_.notify_all();
        return false;
      }
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
    ++steps;
    return true;
  }

  // Waits until the lane has found this worker without work `n` times (then it goes idle).
  void wait_for_empty_steps(int n) {
    std::unique_lock lk(mu_);
    empty_cv_.wait(lk, [&] { return empty_steps_ >= n; });
  }
  int empty_steps() {
    std::lock_guard lk(mu_);
    return empty_steps_;
  }

  std::atomic<int> steps{0};

 private:
  ComputeLane& lane_;
  std::mutex mu_;
  std::condition_variable empty_cv_;
  int empty_steps_ = 0;  // GUARDED_BY(mu_)
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
  auto clock = std::make_shared<ManualClock>();
  ComputeLane lane(clock);
  StepLog log(45);
  // An embedder's 8 ms batches and a generator's 1 ms steps.
  TimedWorker slow('S', 8ms, *clock, log), fast('F', 1ms, *clock, log);
  // Hold the first step until both are attached, so that both start from zero lane time.
  std::latch both_attached(1);
  slow.hook = [&](int n) {
    if (n == 1) both_attached.wait();
  };
  lane.attach(&slow);
  lane.attach(&fast);
  both_attached.count_down();
  log.full.wait();
  lane.detach(&slow);
  lane.detach(&fast);
  // Least time used goes next (ties to the first attached): 8 fast steps per slow one, where turn
  // by turn would be "SFSF...".
  EXPECT_EQ(log.str(), repeat("SFFFFFFFF", 5));
}

TEST(ComputeLane, AWorkerBackFromIdleGetsNoCreditForIt) {
  auto clock = std::make_shared<ManualClock>();
  ComputeLane lane(clock);
  StepLog log(80);
  TimedWorker busy('B', 1ms, *clock, log), late('L', 1ms, *clock, log);
  late.busy = false;
  // At its 60th step (60 ms of lane time that `late` spent idle), `late` gets work.
  std::latch at_60(1), resume(1);
  busy.hook = [&](int n) {
    if (n != 60) return;
    at_60.count_down();
    resume.wait();
  };
  lane.attach(&busy);
  lane.attach(&late);
  at_60.wait();
  late.busy = true;
  lane.notify();
  resume.count_down();
  log.full.wait();
  lane.detach(&busy);
  lane.detach(&late);
  // `late` rejoins level with `busy` and they alternate; with credit for its idle time it would
  // have run 60 steps alone. Which of the two takes the first step after the tie is not fixed.
  const std::string steps = log.str();
  ASSERT_EQ(steps.size(), 80u);
  EXPECT_EQ(steps.substr(0, 60), std::string(60, 'B'));
  const std::string after = steps.substr(60);
  EXPECT_EQ(after.find("LL"), std::string::npos) << steps;
  EXPECT_GE(std::count(after.begin(), after.end(), 'L'), 9) << steps;
}

TEST(ComputeLane, AnIdleLaneRunsNewWorkWhenNotified) {
  ComputeLane lane;
  QueueWorker worker(lane);
  lane.attach(&worker);
  for (int i = 0; i < 3; ++i) {
    const int empty_before = worker.empty_steps();
    std::promise<void> ran;
    worker.push([&] { ran.set_value(); });
    EXPECT_EQ(ran.get_future().wait_for(30s), std::future_status::ready);
    worker.wait_for_empty_steps(empty_before + 1);  // the lane found nothing more: it sleeps again
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

// Holds its one job back until a deadline on the lane's clock, as a batch gathering inputs does.
class DeferringWorker final : public ComputeLane::Worker {
 public:
  DeferringWorker(ComputeLane& lane, const ManualClock& clock, Clock::time_point until)
      : lane_(lane), clock_(clock), until_(until) {}
  bool step() override {
    {
      std::lock_guard lk(mu_);
      ++calls_;
      if (clock_.now() < until_) {
        lane_.notify_at(until_);
      } else if (!ran_at_) {
        ran_at_ = clock_.now();
      }
    }
    cv_.notify_all();
    return false;  // nothing more to do either way
  }
  void wait_for_calls(int n) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return calls_ >= n; });
  }
  int calls() {
    std::lock_guard lk(mu_);
    return calls_;
  }
  std::optional<Clock::time_point> ran_at() {
    std::lock_guard lk(mu_);
    return ran_at_;
  }

 private:
  ComputeLane& lane_;
  const ManualClock& clock_;
  Clock::time_point until_;
  std::mutex mu_;
  std::condition_variable cv_;
  int calls_ = 0;                            // GUARDED_BY(mu_)
  std::optional<Clock::time_point> ran_at_;  // GUARDED_BY(mu_)
};

TEST(ComputeLane, NotifyAtWakesAnIdleLaneAtTheDeadlineAndNotBefore) {
  auto clock = std::make_shared<ManualClock>();
  ComputeLane lane(clock);
  const auto until = clock->now() + 40ms;
  DeferringWorker worker(lane, *clock, until);
  lane.attach(&worker);
  worker.wait_for_calls(1);  // it deferred: the lane sleeps until `until`
  clock->advance(39ms);
  lane.clock_advanced();
  // One ms short of the deadline nothing may run; reaching it wakes the lane for one more call.
  clock->advance(1ms);
  lane.clock_advanced();
  worker.wait_for_calls(2);
  lane.detach(&worker);
  ASSERT_TRUE(worker.ran_at().has_value()) << "the lane came back before the deadline";
  EXPECT_EQ(*worker.ran_at(), until);
  EXPECT_EQ(worker.calls(), 2) << "the lane stepped the worker without a notify or a deadline";
}

TEST(ComputeLane, SharedIsOneLaneWhileItIsInUse) {
  auto a = ComputeLane::shared();
  auto b = ComputeLane::shared();
  EXPECT_EQ(a.get(), b.get());
}

}  // namespace
}  // namespace xervo
