// ComputeLane: one thread that runs the compute steps of every model sharing a device, one step at
// a time, sharing its time between the models that have work.
//
// On a CPU each step (one llama_decode) already uses every core it is given. Two models stepping at
// once on the same cores make each other's threads wait at every barrier of every layer; and with
// OpenMP each thread that decodes owns a team of its own, so as soon as the teams' threads outnumber
// the cores libgomp stops spinning and every barrier goes to sleep. One lane keeps one team, hot, for
// all models (measured: a server holding an embedder and a generator streamed chat ~7% slower with a
// thread per model, and collapsed 5x to 8x under mixed load with non-OpenMP spinning pools).
//
// Workers (a model's scheduler) attach, say when they have new work (notify), and get step() calls
// on the lane's thread. The lane shares time, not steps: it always steps the worker with work that
// has used the least lane time (a worker coming back from idle starts level with the others, with
// no credit for its idle time). A generator's 5 ms steps and an embedder's 100 ms batches each get
// half the lane while both have work, so a chat stream is never held to the embedder's pace.
//
// The lane reads time through a Clock (the steady clock unless a test gives its own), both to
// measure steps and to wait for notify_at() deadlines, so that its time sharing can be tested
// exactly: a test's steps advance a manual clock instead of sleeping.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace xervo {

class ComputeLane {
 public:
  class Worker {
   public:
    // One step on the lane's thread; false when there was nothing to do. Never runs concurrently
    // with another step of any worker of the lane.
    virtual bool step() = 0;

   protected:
    ~Worker() = default;
  };

  // Where the lane reads time. Thread-safe: now() is called from the lane's thread.
  class Clock {
   public:
    virtual ~Clock() = default;
    virtual std::chrono::steady_clock::time_point now() const = 0;
    // True for a clock that follows std::chrono::steady_clock, so that the lane can sleep until a
    // deadline; false for a manual clock, whose owner calls clock_advanced() when it moves.
    virtual bool is_steady() const = 0;
  };

  // The lane every model of the process shares (created on first use, ended with its last worker).
  static std::shared_ptr<ComputeLane> shared();

  // `clock`: null for the steady clock.
  explicit ComputeLane(std::shared_ptr<const Clock> clock = nullptr);
  ~ComputeLane();
  ComputeLane(const ComputeLane&) = delete;
  ComputeLane& operator=(const ComputeLane&) = delete;

  void attach(Worker* worker);
  // When this returns, `worker`'s step is not running and is never called again. Must not be called
  // from a step.
  void detach(Worker* worker);
  // A worker has new work (or a request was cancelled): wakes the lane if it sleeps.
  void notify();
  // As notify(), at `when`: for a worker that holds its work back until then (a batch gathering
  // inputs) and says so by returning false from step().
  // `when` is on the lane's clock.
  void notify_at(std::chrono::steady_clock::time_point when);
  // For a manual clock: its time moved, so a notify_at() deadline may have come.
  void clock_advanced();

 private:
  void loop();
  // Sleeps until notified, stopped, or the notify_at() deadline. REQUIRES: lk holds mu_.
  void wait_for_work(std::unique_lock<std::mutex>& lk, uint64_t seen);
  // Runs one step of `worker` outside the lock and books its time. REQUIRES: lk holds mu_.
  void run_step(std::unique_lock<std::mutex>& lk, Worker* worker);

  std::mutex mu_;
  std::condition_variable work_cv_;  // notify() and stop
  std::condition_variable idle_cv_;  // a step ended (detach waits on it)
  struct Entry {
    Worker* worker;
    std::chrono::nanoseconds used;  // lane time used (its steps' durations), offset on joining
    bool idle;                      // its last step had nothing to do and nothing was notified since
  };
  std::vector<Entry> entries_;        // GUARDED_BY(mu_)
  std::chrono::nanoseconds lead_{0};  // GUARDED_BY(mu_): the most `used` of any worker
  Worker* running_ = nullptr;         // GUARDED_BY(mu_): whose step runs now
  uint64_t notified_ = 0;             // GUARDED_BY(mu_): notify() calls, and attach/detach
  bool stopping_ = false;             // GUARDED_BY(mu_)
  // GUARDED_BY(mu_): the earliest notify_at() not yet reached.
  std::optional<std::chrono::steady_clock::time_point> wake_at_;
  std::shared_ptr<const Clock> clock_;
  std::thread thread_;
};

}  // namespace xervo
