#include "net/in_flight_limit.h"

#include <map>
#include <utility>

namespace xervo::net {

InFlightLimit::Slot::~Slot() {
  if (owner_) owner_->release();
}

void InFlightLimit::release() {
  {
    std::lock_guard lock(mu_);
    in_flight_--;
  }
  cv_.notify_one();
}

int InFlightLimit::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

int InFlightLimit::queued() const {
  std::lock_guard lock(mu_);
  return queued_;
}

Result<InFlightLimit::Slot> InFlightLimit::acquire(std::chrono::milliseconds timeout, std::stop_token stop,
                                                   const std::string& what) {
  std::unique_lock lock(mu_);
  if (in_flight_ < max_ && queued_ == 0) {
    in_flight_++;
    return Slot(this);
  }
  if (queued_ >= max_queued_)
    return Error(ErrorCode::unavailable, what + ": " + std::to_string(max_) + " requests in flight and " +
                                             std::to_string(queued_) +
                                             " waiting (max_in_flight, max_queued); retry shortly");
  queued_++;
  const bool got = cv_.wait_for(lock, stop, timeout, [&] { return in_flight_ < max_; });
  queued_--;
  if (got) {
    in_flight_++;
    return Slot(this);
  }
  cv_.notify_one();  // a slot may have come free as this waiter gave up: pass the wakeup on
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
