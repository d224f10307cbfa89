// ModelRuntime::Impl, shared by the files of the runtime: runtime.cpp (builder, handles, lifecycle
// calls) and runtime_changes.cpp (swap, rollback, reload). Internal to src/core.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "core/alias_table.h"
#include "core/event_bus.h"
#include "core/handles.h"
#include "core/registry.h"
#include "core/response_cache.h"
#include "core/semantic_cache.h"
#include "xervo/runtime.h"

namespace xervo {

std::string join_names(const std::vector<std::string>& names);

// Checks a whole alias table against the providers: each spec's provider exists and supports its
// task, fallbacks exist with the same task and size, provider keys are known (with file:line).
Result<void> validate_specs(const std::map<std::string, std::shared_ptr<ModelProvider>>& providers,
                            const std::map<std::string, ModelSpec>& specs,
                            const nlohmann::json& provider_settings,
                            const std::map<std::string, std::string>& locations);

LoadControl load_control(const AcquireOptions& options);

// runtime_semantic.cpp: each alias's semantic cache settings against the table (an embed alias of
// task embed, on a generation alias, threshold and size in range), with file:line where known.
Result<void> check_semantic_caches(const std::map<std::string, ModelSpec>& specs,
                                   const std::map<std::string, std::string>& locations);
void warn_semantic_without_cache(const std::map<std::string, ModelSpec>& specs, bool cache_on);
// `current` pointed at target's provider, model, revision and options (see runtime_changes.cpp).
ModelSpec retargeted(const ModelSpec& current, const ModelSpec& target, bool keep_unset);

struct ModelRuntime::Impl : std::enable_shared_from_this<ModelRuntime::Impl> {
  Impl(RuntimeLimits limits, SteadyClock clock);
  ~Impl();

  std::map<std::string, std::shared_ptr<ModelProvider>> providers;  // fixed after build
  std::string default_provider;
  nlohmann::json provider_settings = nlohmann::json::object();
  std::map<std::string, std::string> locations;
  AliasTable aliases;
  EventBus events;
  ModelRegistry registry;
  std::shared_ptr<ResponseCache> cache;  // null when [cache] is off; fixed after build
  SemanticCaches semantic;  // per generation alias with a semantic cache (used only with `cache`)

  mutable std::mutex limits_mu;
  RuntimeLimits limits;  // GUARDED_BY(limits_mu)
  std::mutex change_mu;  // one swap, rollback or reload at a time

  std::mutex bg_mu;
  std::condition_variable bg_cv;
  bool bg_running = false;  // GUARDED_BY(bg_mu)
  std::thread bg_thread;
  std::jthread reaper;  // unloads idle models as their keep-alive passes

  // What a name resolves to: the spec, and for an alias the version it had.
  struct Resolved {
    ModelSpec spec;
    std::optional<uint64_t> alias_version;
  };
  Result<Resolved> resolve_in(const AliasTable::Map& map, std::string_view name,
                              std::optional<ModelTask> task) const;
  Result<ModelSpec> resolve(std::string_view name, std::optional<ModelTask> task) const;
  LoadPolicy policy_for(const Resolved& r, const AcquireOptions& options) const;
  Result<AcquiredModel> acquire(const ModelSpec& spec, const LoadControl& control, const LoadPolicy& policy);
  // Resolves and acquires, atomically with respect to swaps: a call never ends on a target its alias
  // left while the call was loading it.
  Result<AcquiredModel> resolve_and_acquire(std::string_view name, std::optional<ModelTask> task,
                                            const AcquireOptions& options, ModelSpec& spec_out);
  // Unloads the model with this key when no alias points at it any more.
  void unload_if_unreferenced(const std::string& key, UnloadReason reason);

  void start_background(std::vector<ModelSpec> todo);
  void start_reaper();
  MemoryBudget::Limits budget_limits() const;

  // runtime_changes.cpp. REQUIRES: change_mu held.
  Result<SwapResult> swap_locked(ModelSpec next, const ChangeOptions& options, const std::string& action);
  Result<ReloadReport> reload_locked(const Config& config, const ChangeOptions& options);
};

// The response cache (and a generation alias's semantic cache) for a handle of `spec`, as `options`
// allow (runtime.cpp).
void attach_cache(const std::shared_ptr<ModelRuntime::Impl>& impl, const ModelSpec& spec,
                  const AcquireOptions& options, HandleContext& ctx);
// The semantic cache of generation alias `spec` with an embedder through its embed alias; null
// when it has none (runtime_semantic.cpp).
std::shared_ptr<const SemanticHook> semantic_hook(const std::shared_ptr<ModelRuntime::Impl>& impl,
                                                  const ModelSpec& spec);

}  // namespace xervo
