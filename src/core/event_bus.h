// Delivers lifecycle events to subscribers. emit() copies the subscriber list under its mutex and
// calls each subscriber after releasing it, so a subscriber may subscribe, unsubscribe or call the
// runtime. A subscriber that throws is logged and skipped. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>

#include "xervo/runtime.h"

namespace xervo {

class EventBus {
 public:
  uint64_t subscribe(ModelEventCallback callback);
  void unsubscribe(uint64_t id);
  void emit(const ModelEvent& event) const;

 private:
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;                          // GUARDED_BY(mu_)
  std::map<uint64_t, ModelEventCallback> subs_;   // GUARDED_BY(mu_)
};

}  // namespace xervo
