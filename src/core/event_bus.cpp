#include "core/event_bus.h"

#include <vector>

#include "core/log.h"

namespace xervo {

uint64_t EventBus::subscribe(ModelEventCallback callback) {
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  subs_.emplace(id, std::move(callback));
  return id;
}

void EventBus::unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  subs_.erase(id);
}

void EventBus::emit(const ModelEvent& event) const {
  std::vector<ModelEventCallback> subs;
  {
    std::lock_guard lock(mu_);
    subs.reserve(subs_.size());
    for (const auto& [id, cb] : subs_) subs.push_back(cb);
  }
  for (const auto& cb : subs) {
    try {
      cb(event);
    } catch (const std::exception& e) {
      spdlog::warn("event subscriber threw on {} of {}: {}", to_string(event.kind),
                   event.record.key.to_string(), e.what());
    } catch (...) {
      spdlog::warn("event subscriber threw on {} of {}", to_string(event.kind), event.record.key.to_string());
    }
  }
}

}  // namespace xervo
