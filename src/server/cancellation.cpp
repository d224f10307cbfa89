#include "server/cancellation.h"

#include <vector>

namespace xervo::server {

CancellationTracker::Handle::~Handle() { owner_.untrack(id_); }

CancellationTracker::CancellationTracker() : watchdog_([this] { watch(); }) {}

CancellationTracker::~CancellationTracker() {
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  watchdog_.join();
}

std::unique_ptr<CancellationTracker::Handle> CancellationTracker::track(Clock::time_point deadline,
                                                                        std::stop_token client_gone) {
  auto state = std::make_shared<State>();
  if (client_gone.stop_possible()) {
    // Runs at once when the client is already gone. The State owns the callback, so it cannot
    // outlive the source it stops.
    State* raw = state.get();
    state->on_client_gone.emplace(std::move(client_gone), std::function<void()>([raw] {
                                    raw->client_gone = true;
                                    raw->source.request_stop();
                                  }));
  }
  uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    id = next_id_++;
    entries_.emplace(id, Entry{deadline, state});
  }
  cv_.notify_all();  // the new deadline may be the earliest
  return std::make_unique<Handle>(*this, id, std::move(state), deadline);
}

void CancellationTracker::untrack(uint64_t id) {
  std::lock_guard lock(mu_);
  entries_.erase(id);
}

void CancellationTracker::cancel_all() {
  std::vector<std::shared_ptr<State>> states;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : entries_) states.push_back(e.state);
  }
  for (auto& s : states) {
    s->shutting_down = true;
    s->source.request_stop();
  }
}

size_t CancellationTracker::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void CancellationTracker::watch() {
  std::unique_lock lock(mu_);
  while (!quit_) {
    auto now = Clock::now();
    auto next = Clock::time_point::max();
    std::vector<std::shared_ptr<State>> expired;
    for (auto& [id, e] : entries_) {
      if (e.deadline <= now) {
        if (!e.state->timed_out.exchange(true)) expired.push_back(e.state);
      } else if (e.deadline < next) {
        next = e.deadline;
      }
    }
    if (!expired.empty()) {
      lock.unlock();
      for (auto& s : expired) s->source.request_stop();
      lock.lock();
      continue;
    }
    if (next == Clock::time_point::max())
      cv_.wait(lock);
    else
      cv_.wait_until(lock, next);
  }
}

Error CancellationTracker::Handle::error(std::chrono::seconds request_timeout, std::string_view what) const {
  const std::string name(what);
  if (timed_out())
    return Error(ErrorCode::timeout, name + " ran longer than request_timeout (" +
                                         std::to_string(request_timeout.count()) + " s) and was stopped");
  if (shutting_down()) return Error(ErrorCode::unavailable, "the server is shutting down");
  if (client_gone())
    return Error(ErrorCode::cancelled, name + " was cancelled: the client closed its connection");
  return Error(ErrorCode::cancelled, name + " was cancelled");
}

}  // namespace xervo::server
