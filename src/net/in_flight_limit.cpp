#include "net/in_flight_limit.h"

#include <algorithm>
#include <map>
#include <utility>

namespace xervo::net {

InFlightLimit::Slot::~Slot() {
  if (owner_) owner_->release();
}

void InFlightLimit::release() {
  std::lock_guard lock(mu_);
  if (waiting_.empty()) {
    in_flight_--;
    return;
  }
  Waiter* next = waiting_.front();  // the slot passes to it: in_flight_ stays
  waiting_.pop_front();
  next->granted = true;
  next->cv.notify_one();
}

int InFlightLimit::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

int InFlightLimit::queued() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(waiting_.size());
}

Result<InFlightLimit::Slot> InFlightLimit::acquire(std::chrono::milliseconds timeout, std::stop_token stop,
                                                   const std::string& what) {
  std::unique_lock lock(mu_);
  if (in_flight_ < max_ && waiting_.empty()) {
    in_flight_++;
    return Slot(this);
  }
  if (static_cast<int>(waiting_.size()) >= max_queued_)
    return Error(ErrorCode::unavailable, what + ": " + std::to_string(max_) + " requests in flight and " +
                                             std::to_string(waiting_.size()) +
                                             " waiting (max_in_flight, max_queued); retry shortly");
  // now() + a huge queue_timeout_ms overflows (in practice into the past: every wait would end at
  // once); a wait of more than a year is a year.
  constexpr std::chrono::milliseconds kLongestWait = std::chrono::hours(24 * 366);
  const auto wait = std::clamp(timeout, std::chrono::milliseconds(0), kLongestWait);
  Waiter me;
  waiting_.push_back(&me);
  me.cv.wait_for(lock, stop, wait, [&] { return me.granted; });
  if (me.granted) return Slot(this);  // granted, even if the wait ran out at the same moment
  std::erase(waiting_, &me);
  if (stop.stop_requested())
    return Error(ErrorCode::cancelled, what + ": cancelled while waiting for a slot");
  return Error(ErrorCode::unavailable, what + ": waited " + std::to_string(timeout.count()) +
                                           " ms for one of " + std::to_string(max_) +
                                           " slots (max_in_flight, queue_timeout_ms); retry shortly");
}

std::shared_ptr<InFlightLimit> InFlightLimit::shared(const std::string& key, int max_in_flight,
                                                     int max_queued) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<InFlightLimit>> limits;  // GUARDED_BY(mu)
  const std::string full = key + "|" + std::to_string(max_in_flight) + "|" + std::to_string(max_queued);
  std::lock_guard lock(mu);
  std::erase_if(limits, [](const auto& kv) { return kv.second.expired(); });
  if (auto existing = limits[full].lock()) return existing;
  auto limit = std::make_shared<InFlightLimit>(max_in_flight, max_queued);
  limits[full] = limit;
  return limit;
}

}  // namespace xervo::net
