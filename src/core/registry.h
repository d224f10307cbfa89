// ModelRegistry: the map from ModelKey to loaded models, and the lifecycle policy around it. Loaded
// models are found under a shared (read) lock; on a miss exactly one caller per key runs the
// provider's load while the others wait for its outcome. Each entry has its own mutex, so loading
// one model never blocks serving another.
//
// Before a load the provider's estimate is charged to the MemoryBudget; when it does not fit, idle
// models (no handle held, not pinned) are evicted least recently used first, then the load waits up
// to its deadline for memory to free and fails with insufficient_memory. Idle models past their
// keep-alive are unloaded by expire_idle(). Unloading drops the registry's reference only: handles
// already handed out keep the model (and its charge) alive until they are released. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/event_bus.h"
#include "core/memory_budget.h"
#include "xervo/provider.h"
#include "xervo/runtime.h"

namespace xervo {

using SteadyClock = std::function<std::chrono::steady_clock::time_point()>;

// Live counters of one registry entry, shared with the handles handed out for it.
struct ModelUsage {
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> last_used_ms{0};   // system_clock, ms since epoch
  std::atomic<int64_t> handles{0};        // leases outstanding: busy while > 0
  std::atomic<int64_t> idle_since_ns{0};  // registry clock, when the last lease went
  void touch();
};

// What every lease of a registry needs when it is released: the clock and the budget to notify.
struct LeaseContext {
  SteadyClock clock;
  std::shared_ptr<MemoryBudget> budget;
};

// Keeps an entry busy (never evicted nor expired) while a handle holds it; its release wakes loads
// waiting for memory and the keep-alive reaper.
class ModelLease {
 public:
  ModelLease(std::shared_ptr<ModelUsage> usage, std::shared_ptr<const LeaseContext> context);
  ~ModelLease();
  ModelLease(const ModelLease&) = delete;
  ModelLease& operator=(const ModelLease&) = delete;

 private:
  std::shared_ptr<ModelUsage> usage_;
  std::shared_ptr<const LeaseContext> context_;
};

// What acquire() hands out: the model, the counters it reports to, and the lease that keeps it busy.
struct AcquiredModel {
  std::shared_ptr<const LoadedModel> model;
  std::shared_ptr<ModelUsage> usage;
  std::shared_ptr<ModelLease> lease;
};

// How the runtime wants one acquire treated.
struct LoadPolicy {
  std::chrono::milliseconds keep_alive{-1};                      // for a model this call loads
  std::optional<std::chrono::milliseconds> keep_alive_override;  // a request's own: also for a loaded one
  bool pin = false;                                              // pins the model (config `pin`)
  std::string protect;          // key string never evicted for this load (a swap's old model)
  bool wait_for_memory = true;  // false: insufficient_memory at once instead of waiting
};

class ModelRegistry {
 public:
  ModelRegistry(const EventBus& events, MemoryBudget::Limits limits, SteadyClock clock);

  // The loaded model for `spec`, loading it through `provider` when absent or failed before.
  // Callers that arrive while a load runs wait for that load and share its result (or error).
  // `control` bounds this caller only: a waiter past it returns cancelled/timeout while the load
  // goes on; a load this caller runs gets `control` and, when abandoned for it, leaves the entry
  // unloaded (not failed) so that the next waiter loads again.
  Result<AcquiredModel> acquire(const ModelSpec& spec, ModelProvider& provider,
                                const LoadControl& control = {}, const LoadPolicy& policy = {});
  // The model for `spec` if it is loaded now; never loads or waits.
  std::optional<AcquiredModel> try_acquire(const ModelSpec& spec, const LoadPolicy& policy = {});

  // Removes the model with this key string; false when the registry has no such key.
  bool unload(const std::string& key, UnloadReason reason = UnloadReason::explicit_);
  void unload_all(UnloadReason reason);
  // false when the registry has no such key.
  bool set_pinned(const std::string& key, bool pinned);
  bool set_keep_alive(const std::string& key, std::chrono::milliseconds keep_alive);

  // Unloads idle models past their keep-alive; returns how many.
  size_t expire_idle();
  // When the next idle model expires (registry clock), if any does.
  std::optional<std::chrono::steady_clock::time_point> next_expiry() const;

  MemoryStatus memory_status() const;
  void set_limits(MemoryBudget::Limits limits);
  const std::shared_ptr<MemoryBudget>& budget() const { return budget_; }
  std::chrono::steady_clock::time_point now() const { return clock_(); }

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
    std::weak_ptr<MemoryBudget::Charge> charge;         // GUARDED_BY(mu): owned by `model`'s holder
    std::vector<std::string> aliases;                   // GUARDED_BY(mu)
    int64_t load_count = 0;                             // GUARDED_BY(mu): attempts started
    int64_t waiting = 0;                                // GUARDED_BY(mu): callers in wait_for_load
    bool removed = false;                               // GUARDED_BY(mu): unloaded while loading
    bool pinned = false;                                // GUARDED_BY(mu)
    std::chrono::milliseconds keep_alive{-1};           // GUARDED_BY(mu)
    MemoryEstimate estimated;                           // GUARDED_BY(mu)
    int64_t rss_delta = 0;                              // GUARDED_BY(mu)
    std::chrono::milliseconds load_duration{0};         // GUARDED_BY(mu)
    std::chrono::system_clock::time_point loaded_at{};  // GUARDED_BY(mu)
    std::chrono::steady_clock::time_point failed_at{};  // GUARDED_BY(mu)
  };

  ModelRecord snapshot(const Entry& e) const;  // REQUIRES: e.mu held
  bool idle(const Entry& e) const;             // REQUIRES: e.mu held; loaded, unpinned, no lease
  AcquiredModel lease(Entry& e) const;         // REQUIRES: e.mu held, e.model set
  std::shared_ptr<Entry> find_or_create(const ModelKey& key);
  std::shared_ptr<Entry> find(const std::string& key) const;
  std::vector<std::shared_ptr<Entry>> all_entries() const;
  // Outcome of waiting for another caller's load: the model, its error, or nullopt to go around again.
  // REQUIRES: lock holds e.mu and e.state == loading.
  std::optional<Result<AcquiredModel>> wait_for_load(Entry& e, std::unique_lock<std::mutex>& lock,
                                                     const ModelSpec& spec, const LoadControl& control);
  // The provider's load and warmup, outside every lock; a throwing provider is a failed load.
  Result<LoadedModel> call_provider(Entry& e, const ModelSpec& spec, ModelProvider& provider,
                                    const LoadControl& control);
  Result<AcquiredModel> run_load(Entry& e, const ModelSpec& spec, ModelProvider& provider,
                                 const LoadControl& control, const LoadPolicy& policy);
  // A charge for `claim`, evicting idle models and waiting as the policy allows.
  Result<std::shared_ptr<MemoryBudget::Charge>> reserve(const ModelSpec& spec, const std::string& key,
                                                        const MemoryBudget::Claim& claim, const LoadControl& control,
                                                        const LoadPolicy& policy);
  // Evicts the least recently used idle model whose memory or slot helps `claim` fit; false if none.
  bool evict_one(const MemoryBudget::Claim& claim, const std::string& self, const std::string& protect);
  // Whether memory or a slot held now could come free by waiting (held by busy or loading models).
  bool could_free(const MemoryBudget::Claim& claim, const std::string& self) const;
  Error insufficient_memory(const ModelSpec& spec, const std::string& key,
                            const MemoryBudget::Claim& claim) const;
  // Unloads `key` if it is still idle (and, for `expired`, past its keep-alive).
  bool unload_if_idle(const std::string& key, UnloadReason reason);
  bool expired(const Entry& e, std::chrono::steady_clock::time_point now) const;  // REQUIRES: e.mu
  void drop_old_failures();

  const EventBus& events_;
  const SteadyClock clock_;
  const std::shared_ptr<MemoryBudget> budget_;
  const std::shared_ptr<const LeaseContext> lease_context_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;  // GUARDED_BY(mu_), by ModelKey::to_string()
};

}  // namespace xervo
