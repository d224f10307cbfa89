// ModelRegistry: the map from ModelKey to loaded models. Loaded models are found under a shared
// (read) lock; on a miss exactly one caller per key runs the provider's load while the others wait
// for its outcome. Each entry has its own mutex, so loading one model never blocks serving
// another. Unloading drops the registry's reference only: handles already handed out keep the
// model alive until they are released. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/event_bus.h"
#include "xervo/provider.h"
#include "xervo/runtime.h"

namespace xervo {

// Live counters of one registry entry, shared with the handles handed out for it.
struct ModelUsage {
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> last_used_ms{0};  // system_clock, ms since epoch
  void touch();
};

// What acquire() hands out: the model and the counters it reports to.
struct AcquiredModel {
  std::shared_ptr<const LoadedModel> model;
  std::shared_ptr<ModelUsage> usage;
};

class ModelRegistry {
 public:
  explicit ModelRegistry(const EventBus& events) : events_(events) {}

  // The loaded model for `spec`, loading it through `provider` when absent or failed before.
  // Callers that arrive while a load runs wait for that load and share its result (or error).
  // `control` bounds this caller only: a waiter past it returns cancelled/timeout while the load
  // goes on; a load this caller runs gets `control` and, when abandoned for it, leaves the entry
  // unloaded (not failed) so that the next waiter loads again.
  Result<AcquiredModel> acquire(const ModelSpec& spec, ModelProvider& provider,
                                const LoadControl& control = {});

  // Removes the model with this key string; false when the registry has no such key.
  bool unload(const std::string& key);

  std::vector<ModelRecord> records() const;
  std::optional<ModelRecord> record(const std::string& key) const;

 private:
  struct Entry {
    explicit Entry(ModelKey k) : key(std::move(k)) {}
    const ModelKey key;
    std::shared_ptr<ModelUsage> usage = std::make_shared<ModelUsage>();

    mutable std::mutex mu;
    std::condition_variable_any cv;                     // _any: waits take a stop token
    ModelState state = ModelState::unloaded;            // GUARDED_BY(mu)
    std::optional<Error> error;                         // GUARDED_BY(mu)
    std::shared_ptr<const LoadedModel> model;           // GUARDED_BY(mu)
    std::vector<std::string> aliases;                   // GUARDED_BY(mu)
    int64_t load_count = 0;                             // GUARDED_BY(mu): attempts started
    int64_t waiting = 0;                                // GUARDED_BY(mu): callers in wait_for_load
    bool removed = false;                               // GUARDED_BY(mu): unloaded while loading
    std::chrono::milliseconds load_duration{0};         // GUARDED_BY(mu)
    std::chrono::system_clock::time_point loaded_at{};  // GUARDED_BY(mu)
  };

  static ModelRecord snapshot(const Entry& e);  // REQUIRES: e.mu held
  std::shared_ptr<Entry> find_or_create(const ModelKey& key);
  // Outcome of waiting for another caller's load: the model, its error, or nullopt to go around again.
  // REQUIRES: lock holds e.mu and e.state == loading.
  static std::optional<Result<AcquiredModel>> wait_for_load(Entry& e, std::unique_lock<std::mutex>& lock,
                                                            const ModelSpec& spec,
                                                            const LoadControl& control);
  // The provider's load and warmup, outside every lock; a throwing provider is a failed load.
  static Result<LoadedModel> call_provider(const ModelSpec& spec, ModelProvider& provider,
                                           const LoadControl& control);
  Result<AcquiredModel> run_load(Entry& e, const ModelSpec& spec, ModelProvider& provider,
                                 const LoadControl& control);

  const EventBus& events_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;  // GUARDED_BY(mu_), by ModelKey::to_string()
};

}  // namespace xervo
