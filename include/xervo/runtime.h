// ModelRuntime: the one object an application holds. It resolves aliases to specs, loads each
// model once however many threads ask, tracks every model's lifecycle and hands out typed task
// handles. Thread-safe: every method may be called from any thread at any time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/cache.h"
#include "xervo/config.h"
#include "xervo/embedding.h"
#include "xervo/error.h"
#include "xervo/generator.h"
#include "xervo/model_spec.h"
#include "xervo/provider.h"
#include "xervo/reranker.h"
#include "xervo/transcriber.h"

namespace xervo {

enum class ModelState { loading, loaded, failed, unloaded };
std::string_view to_string(ModelState state);

// Why a model left the registry.
enum class UnloadReason {
  explicit_,  // unload() or the management API
  evicted,    // idle, and its memory (or slot under max_loaded) was needed for another load
  expired,    // idle past its keep-alive
  swapped,    // its alias now points at another model
  failed,     // its load failed and the record was dropped
  shutdown,   // the runtime is being destroyed
};
std::string_view to_string(UnloadReason reason);  // "explicit", "evicted", ...

// A plain snapshot of one model's lifecycle.
struct ModelRecord {
  ModelKey key;
  ModelTask task = ModelTask::embed;
  std::vector<std::string> aliases;  // aliases that resolved to this key so far
  ModelState state = ModelState::unloaded;
  std::optional<Error> error;  // why it is `failed`
  std::chrono::milliseconds load_duration{0};
  uint64_t memory_bytes = 0;    // measured after the load (what the provider reports it holds)
  MemoryEstimate estimated;     // the provider's estimate before the load
  MemoryEstimate measured;      // the provider's breakdown after the load (zero when it gives none)
  std::string placement;        // LoadedModel::placement: device and layers, or why it fell back to the CPU
  int64_t rss_delta_bytes = 0;  // process RSS change across the load: a cross-check (loads at the same
                                // time blur it; mmapped weights count once touched)
  uint64_t charged_bytes = 0;   // what it holds of the memory budget
  bool pinned = false;
  std::chrono::milliseconds keep_alive{-1};  // negative: no expiry
  // When it expires if it stays idle (unset while busy, pinned or without expiry).
  std::optional<std::chrono::system_clock::time_point> expires_at;
  std::chrono::system_clock::time_point loaded_at{};
  std::chrono::system_clock::time_point last_used{};
  int64_t in_flight = 0;   // calls running on it right now
  int64_t handles = 0;     // handles held; a model with any is busy and never evicted
  int64_t load_count = 0;  // loads of this record (an unload drops the record: the count starts over)
  int64_t waiting = 0;     // callers waiting for the load in progress to finish
};

// Memory and count limits ([runtime] in xervo.toml; see parse_runtime_limits in config.h).
struct RuntimeLimits {
  uint64_t memory_budget = 0;  // host bytes all local models may take together; 0: no budget
  // Bytes of a GPU device's own memory all models may take on it, by ggml device name ("Vulkan0");
  // "*" for every device not named. Empty: no device budget (llama.cpp's fitting still leaves room).
  std::map<std::string, uint64_t> device_memory_budget;
  int64_t max_loaded = 0;      // models loaded (or loading) at once, local and remote; 0: no limit
  std::chrono::milliseconds keep_alive{-1};  // default for aliases: negative forever, 0 right after use
  std::chrono::milliseconds adhoc_keep_alive{std::chrono::minutes(5)};  // for ids that are no alias
};

// The budget and what is used of it.
struct MemoryStatus {
  uint64_t budget = 0;     // 0: none
  uint64_t used = 0;       // charged by loaded and loading models, and unloaded ones still draining
  uint64_t physical = 0;   // the machine's memory
  int64_t max_loaded = 0;  // 0: no limit
  int64_t loaded = 0;      // models loaded or loading
  struct Device {
    std::string name;     // ggml device name, "Vulkan0"
    uint64_t budget = 0;  // 0: none
    uint64_t used = 0;
  };
  std::vector<Device> devices;  // each device with a budget or a charge
};

// Bounds on getting a handle (a lazy load, a wait for another caller's load, a library pull), for
// callers with a deadline such as an HTTP request with request_timeout_s. Defaults never stop.
struct AcquireOptions {
  std::stop_token cancel;  // request_stop() makes the call return cancelled
  // Past it the call returns timeout. A caller waiting on another caller's load returns at once and
  // the load goes on for the others; a load this caller started is abandoned (the provider's
  // progress callback returns false, a pull stops) and the next caller starts it again. A load
  // waiting for memory to free waits up to here, then fails with insufficient_memory.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // Ollama's keep_alive: from this call on, the model stays loaded this long after its last use
  // (negative: until evicted; 0: unloaded when this call's handle is released).
  std::optional<std::chrono::milliseconds> keep_alive;
  // What calls through the handle may do with the response cache ([cache] in xervo.toml).
  CachePolicy cache;
};

// Who changes an alias and how long a change may wait for its load.
struct ChangeOptions {
  std::string by;  // recorded in the alias history ("admin", "config reload", a key name)
  AcquireOptions bounds;
};

// One target an alias pointed at.
struct AliasVersion {
  ModelSpec spec;
  std::chrono::system_clock::time_point at{};
  std::string by;
  std::string action;  // "config", "swap", "rollback", "reload"
};

// An alias as it is now, with its recent targets (oldest first; the last is current).
struct AliasInfo {
  ModelSpec spec;
  std::vector<AliasVersion> history;
};

struct SwapResult {
  std::string alias;
  ModelKey from;
  ModelKey to;
  bool was_loaded = false;  // the old model was loaded, so the new one was loaded before the switch
  bool drained = false;     // no room for both: the new one loaded after the old one drained
};

// What a reload changed. A config that fails validation changes nothing (reload returns the error).
struct ReloadReport {
  std::vector<std::string> added, removed, swapped, updated;  // aliases; updated: same model, new settings
  std::vector<std::pair<std::string, Error>> failed;          // swaps whose new model did not load
  std::vector<std::string> notes;                             // what a reload does not apply
};

enum class ModelEventKind { loading, loaded, failed, unloaded, swapped };
std::string_view to_string(ModelEventKind kind);

struct ModelEvent {
  ModelEventKind kind = ModelEventKind::loaded;
  ModelRecord record;
  std::optional<UnloadReason> reason;  // unloaded
  float progress = 0;                  // loading: fraction in [0, 1]
  std::string stage;                   // loading: the provider's stage ("reading", "context")
  std::string alias;                   // swapped: the alias, re-pointed from `previous` to record.key
  std::optional<ModelKey> previous;    // swapped
};
using ModelEventCallback = std::function<void(const ModelEvent&)>;

class ModelRuntime;

class RuntimeBuilder {
 public:
  RuntimeBuilder();
  ~RuntimeBuilder();
  RuntimeBuilder(RuntimeBuilder&&) noexcept;
  RuntimeBuilder& operator=(RuntimeBuilder&&) noexcept;

  RuntimeBuilder& add_provider(std::shared_ptr<ModelProvider> provider);
  RuntimeBuilder& add_spec(ModelSpec spec);
  // Adds every alias of the config and keeps its provider settings (see provider_settings()).
  RuntimeBuilder& add_config(const Config& config);
  // Provider used for ids that name none ("/m/x.gguf", "library:x"): "llamacpp" by default.
  RuntimeBuilder& set_default_provider(std::string provider_id);
  // Memory budget, max_loaded and keep-alive defaults; add_config() sets them from [runtime]. Without
  // either: default_runtime_limits().
  RuntimeBuilder& set_limits(RuntimeLimits limits);
  // The response cache; add_config() sets it from [cache]. Off without either.
  RuntimeBuilder& set_cache(CacheOptions options);
  // The clock keep-alive expiry reads (tests inject one; steady_clock::now by default).
  RuntimeBuilder& set_clock(std::function<std::chrono::steady_clock::time_point()> now);

  // [providers.ID] of the added config, or an empty object.
  nlohmann::json provider_settings(std::string_view provider_id) const;

  // Validates every spec (providers exist and support the task, fallbacks exist with the same task),
  // loads eager specs (failing with their error), and starts background ones.
  Result<std::shared_ptr<ModelRuntime>> build();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

class ModelRuntime {
 public:
  ~ModelRuntime();

  // Typed handles. `name` is an alias, or an id a provider can take directly: "PROVIDER:MODEL"
  // ("openai:text-embedding-3-small") or a local model ("/m/x.gguf", "library:ID", "hf:ORG/REPO").
  // Loads on first use; a handle of the wrong task is capability_mismatch.
  Result<std::shared_ptr<EmbeddingModel>> embedding(std::string_view name);
  Result<std::shared_ptr<RerankerModel>> reranker(std::string_view name);
  Result<std::shared_ptr<GeneratorModel>> generator(std::string_view name);
  Result<std::shared_ptr<TranscriberModel>> transcriber(std::string_view name);
  // The same, bounded: cancelled or timeout (see AcquireOptions) instead of waiting past the bounds.
  // Fallbacks are not tried once the bounds are reached.
  Result<std::shared_ptr<EmbeddingModel>> embedding(std::string_view name, const AcquireOptions& options);
  Result<std::shared_ptr<RerankerModel>> reranker(std::string_view name, const AcquireOptions& options);
  Result<std::shared_ptr<GeneratorModel>> generator(std::string_view name, const AcquireOptions& options);
  Result<std::shared_ptr<TranscriberModel>> transcriber(std::string_view name, const AcquireOptions& options);

  // The spec `name` resolves to for `task` (aliases carry their own task).
  Result<ModelSpec> resolve(std::string_view name, std::optional<ModelTask> task = std::nullopt) const;

  // Loads an alias now (no-op when loaded).
  Result<void> load(std::string_view alias, const AcquireOptions& options = {});
  // Drops an alias's model (by alias or key string) from the registry; handles already handed out
  // keep working until released. alias_not_found when nothing matches.
  Result<void> unload(std::string_view alias_or_key);

  // Pins (never evicted nor expired) or unpins an alias's model, or a loaded model by key string.
  Result<void> pin(std::string_view alias_or_key, bool pinned);
  // Sets how long an alias's model (or a loaded model by key) stays loaded after its last use.
  Result<void> set_keep_alive(std::string_view alias_or_key, std::chrono::milliseconds keep_alive);
  // Re-points target.alias at target's model while traffic flows: the new model loads beside the old
  // (or, when the budget has no room for both, after the old one drained), new calls go to it once it
  // is loaded and calls already running finish on the old one. When the new model fails to load the
  // alias keeps its old target and the error is returned. The task must stay the same.
  Result<SwapResult> swap(ModelSpec target, const ChangeOptions& options = {});
  // Swaps an alias back to the target before its current one.
  Result<SwapResult> rollback(std::string_view alias, const ChangeOptions& options = {});
  // Applies a re-read config: aliases added, removed (their models unloaded), changed (swapped) and
  // [runtime] limits. A config that fails validation changes nothing and is returned as the error.
  Result<ReloadReport> reload(const Config& config, const ChangeOptions& options = {});

  // Unloads every model (reason `shutdown`, with events; handles out keep theirs until released).
  // For an orderly stop while subscribers still listen; the destructor unloads without events.
  void shutdown();

  // Unloads idle models past their keep-alive now (the runtime's own thread does it as they expire);
  // returns how many.
  size_t expire_idle();

  std::vector<ModelRecord> models() const;
  std::vector<ModelSpec> specs() const;
  std::vector<AliasInfo> aliases() const;
  MemoryStatus memory() const;
  RuntimeLimits limits() const;
  std::vector<std::shared_ptr<ModelProvider>> providers() const;

  // The response cache's counters (enabled = false when there is none), and emptying both tiers.
  CacheStats cache_stats() const;
  bool cache_enabled() const;  // cache_stats().enabled, without taking the cache's lock
  void clear_cache();

  // Subscribes to lifecycle events; the callback runs on the thread that caused the event, outside
  // every lock. Returns an id for unsubscribe().
  uint64_t subscribe(ModelEventCallback callback);
  void unsubscribe(uint64_t id);

  // Blocks until every background load has finished (for tests and `/ready`).
  void wait_for_background_loads();
  // True when every eager and background alias is loaded.
  bool ready() const;

  struct Impl;  // internal (src/core/runtime_impl.h)

 private:
  friend class RuntimeBuilder;
  explicit ModelRuntime(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;  // shared so that handles can reach fallbacks through a weak_ptr
};

}  // namespace xervo
