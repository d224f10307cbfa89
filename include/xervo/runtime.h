// ModelRuntime: the one object an application holds. It resolves aliases to specs, loads each
// model once however many threads ask, tracks every model's lifecycle and hands out typed task
// handles. Thread-safe: every method may be called from any thread at any time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/config.h"
#include "xervo/embedding.h"
#include "xervo/error.h"
#include "xervo/generator.h"
#include "xervo/model_spec.h"
#include "xervo/provider.h"
#include "xervo/reranker.h"

namespace xervo {

enum class ModelState { loading, loaded, failed, unloaded };
std::string_view to_string(ModelState state);

// A plain snapshot of one model's lifecycle.
struct ModelRecord {
  ModelKey key;
  ModelTask task = ModelTask::embed;
  std::vector<std::string> aliases;  // aliases that resolved to this key so far
  ModelState state = ModelState::unloaded;
  std::optional<Error> error;  // why it is `failed`
  std::chrono::milliseconds load_duration{0};
  uint64_t memory_bytes = 0;
  std::chrono::system_clock::time_point loaded_at{};
  std::chrono::system_clock::time_point last_used{};
  int64_t in_flight = 0;   // calls running on it right now
  int64_t load_count = 0;  // how many times the provider's load ran for this key
  int64_t waiting = 0;     // callers waiting for the load in progress to finish
};

// Bounds on getting a handle (a lazy load, a wait for another caller's load, a library pull), for
// callers with a deadline such as an HTTP request with request_timeout_s. Defaults never stop.
struct AcquireOptions {
  std::stop_token cancel;  // request_stop() makes the call return cancelled
  // Past it the call returns timeout. A caller waiting on another caller's load returns at once and
  // the load goes on for the others; a load this caller started is abandoned (the provider's
  // progress callback returns false, a pull stops) and the next caller starts it again.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

enum class ModelEventKind { loaded, failed, unloaded };
std::string_view to_string(ModelEventKind kind);

struct ModelEvent {
  ModelEventKind kind;
  ModelRecord record;
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
  // The same, bounded: cancelled or timeout (see AcquireOptions) instead of waiting past the bounds.
  // Fallbacks are not tried once the bounds are reached.
  Result<std::shared_ptr<EmbeddingModel>> embedding(std::string_view name, const AcquireOptions& options);
  Result<std::shared_ptr<RerankerModel>> reranker(std::string_view name, const AcquireOptions& options);
  Result<std::shared_ptr<GeneratorModel>> generator(std::string_view name, const AcquireOptions& options);

  // The spec `name` resolves to for `task` (aliases carry their own task).
  Result<ModelSpec> resolve(std::string_view name, std::optional<ModelTask> task = std::nullopt) const;

  // Loads an alias now (no-op when loaded).
  Result<void> load(std::string_view alias, const AcquireOptions& options = {});
  // Drops an alias's model (by alias or key string) from the registry; handles already handed out
  // keep working until released. alias_not_found when nothing matches.
  Result<void> unload(std::string_view alias_or_key);

  std::vector<ModelRecord> models() const;
  std::vector<ModelSpec> specs() const;
  std::vector<std::shared_ptr<ModelProvider>> providers() const;

  // Subscribes to lifecycle events; the callback runs on the thread that caused the event, outside
  // every lock. Returns an id for unsubscribe().
  uint64_t subscribe(ModelEventCallback callback);
  void unsubscribe(uint64_t id);

  // Blocks until every background load has finished (for tests and `/ready`).
  void wait_for_background_loads();
  // True when every eager and background alias is loaded.
  bool ready() const;

 private:
  friend class RuntimeBuilder;
  struct Impl;
  explicit ModelRuntime(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;  // shared so that handles can reach fallbacks through a weak_ptr
};

}  // namespace xervo
