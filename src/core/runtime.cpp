#include "xervo/runtime.h"

#include <algorithm>
#include <filesystem>

#include "core/config_path.h"
#include "core/handles.h"
#include "core/log.h"
#include "core/runtime_impl.h"
#include "core/trace.h"

namespace xervo {

std::string_view to_string(ModelState state) {
  switch (state) {
    case ModelState::loading:
      return "loading";
    case ModelState::loaded:
      return "loaded";
    case ModelState::failed:
      return "failed";
    case ModelState::unloaded:
      return "unloaded";
  }
  return "unknown";
}

std::string_view to_string(ModelEventKind kind) {
  switch (kind) {
    case ModelEventKind::loading:
      return "loading";
    case ModelEventKind::loaded:
      return "loaded";
    case ModelEventKind::failed:
      return "failed";
    case ModelEventKind::unloaded:
      return "unloaded";
    case ModelEventKind::swapped:
      return "swapped";
  }
  return "unknown";
}

std::string_view to_string(UnloadReason reason) {
  switch (reason) {
    case UnloadReason::explicit_:
      return "explicit";
    case UnloadReason::evicted:
      return "evicted";
    case UnloadReason::expired:
      return "expired";
    case UnloadReason::swapped:
      return "swapped";
    case UnloadReason::failed:
      return "failed";
    case UnloadReason::shutdown:
      return "shutdown";
  }
  return "unknown";
}

namespace {

template <typename Map>
std::string join_keys(const Map& map) {
  std::string out;
  for (const auto& [k, v] : map) out += (out.empty() ? "" : ", ") + k;
  return out.empty() ? "(none)" : out;
}

// Ids that name a local model file rather than an alias.
bool looks_local(std::string_view name) {
  if (name.starts_with("library:") || name.starts_with("hf:")) return true;
  if (name.ends_with(".gguf")) return true;
  std::error_code ec;
  return std::filesystem::is_regular_file(std::filesystem::path(name), ec);
}

// `model = "auto"` (and `-m auto`): the model library's resolver picks one for the task from its
// catalog (docs/auto-model.md); the id it gets carries the task, "auto:embed".
constexpr std::string_view kAutoModel = "auto";
ModelSpec with_auto_task(ModelSpec spec) {
  if (spec.model == kAutoModel)
    spec.model = std::string(kAutoModel) + ":" + std::string(to_string(spec.task));
  return spec;
}

// Fallbacks may only stand in for the same task and the same vector size.
Result<void> check_fallbacks(const std::map<std::string, ModelSpec>& specs) {
  for (const auto& [alias, spec] : specs) {
    for (const auto& fb : spec.fallbacks) {
      auto it = specs.find(fb);
      if (it == specs.end() || fb == alias)
        return Error(ErrorCode::config_invalid,
                     "alias '" + alias + "' falls back to '" + fb +
                         "', which is not another alias; known aliases: " + join_keys(specs));
      if (it->second.task != spec.task)
        return Error(ErrorCode::config_invalid, "alias '" + alias + "' (" +
                                                    std::string(to_string(spec.task)) + ") falls back to '" +
                                                    fb + "' (" + std::string(to_string(it->second.task)) +
                                                    "): a fallback must serve the same task");
      auto dims = [](const ModelSpec& s) {
        return s.options.is_object() ? s.options.value("dimensions", 0) : 0;
      };
      if (dims(spec) && dims(it->second) && dims(spec) != dims(it->second))
        return Error(ErrorCode::config_invalid, "alias '" + alias + "' has " + std::to_string(dims(spec)) +
                                                    " dimensions but its fallback '" + fb + "' has " +
                                                    std::to_string(dims(it->second)));
    }
  }
  return {};
}
// A key a provider does not read is a typo: refused at build, with the line it is on.
Result<void> check_keys(const nlohmann::json& table, const std::vector<std::string>& known,
                        const std::string& path, const std::map<std::string, std::string>& locations,
                        const std::string& context) {
  if (!table.is_object()) return {};
  for (const auto& [key, value] : table.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    const std::string key_path = join_key_path(path, key);
    auto loc = locations.find(key_path);
    std::string where = loc != locations.end() ? loc->second + ": " : context;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    return Error(ErrorCode::config_invalid, where + key_path + ": unknown key (known keys: " + list + ")");
  }
  return {};
}

Result<void> check_setting_keys(const std::map<std::string, std::shared_ptr<ModelProvider>>& providers,
                                const nlohmann::json& provider_settings,
                                const std::map<std::string, ModelSpec>& specs,
                                const std::map<std::string, std::string>& locations) {
  for (const auto& [id, provider] : providers) {
    auto known = provider->setting_keys();
    if (known.empty() || !provider_settings.contains(id)) continue;
    auto r = check_keys(provider_settings[id], known, join_key_path("providers", id), locations, "");
    if (!r.ok()) return r;
  }
  for (const auto& [alias, spec] : specs) {
    auto known = providers.at(spec.provider)->setting_keys();
    if (known.empty()) continue;
    auto r = check_keys(spec.options, known, join_key_path(join_key_path("models", alias), "options"),
                        locations, "alias '" + alias + "': ");
    if (!r.ok()) return r;
  }
  return {};
}

}  // namespace

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(none)" : out;
}

LoadControl load_control(const AcquireOptions& options) {
  return LoadControl{options.cancel, options.deadline};
}

Result<void> validate_specs(const std::map<std::string, std::shared_ptr<ModelProvider>>& providers,
                            const std::map<std::string, ModelSpec>& specs,
                            const nlohmann::json& provider_settings,
                            const std::map<std::string, std::string>& locations) {
  for (const auto& [alias, spec] : specs) {
    const std::string where = "alias '" + alias + "'";
    if (alias.empty()) return Error(ErrorCode::config_invalid, "a model spec has no alias");
    auto p = providers.find(spec.provider);
    if (p == providers.end())
      return Error(ErrorCode::provider_not_found, where + " names provider '" + spec.provider +
                                                      "'; registered providers: " + join_keys(providers));
    if (!p->second->capabilities().supports(spec.task))
      return Error(ErrorCode::capability_mismatch,
                   where + ": provider '" + spec.provider + "' cannot " + std::string(to_string(spec.task)));
    if (spec.model.empty()) return Error(ErrorCode::config_invalid, where + " has no model");
  }
  if (auto fallbacks = check_fallbacks(specs); !fallbacks.ok()) return fallbacks.error();
  if (auto semantic = check_semantic_caches(specs, locations); !semantic.ok()) return semantic.error();
  return check_setting_keys(providers, provider_settings, specs, locations);
}

// ---------------------------------------------------------------------------------------------------
namespace {
MemoryBudget::Limits to_budget(const RuntimeLimits& l) {
  return {l.memory_budget, l.max_loaded, l.device_memory_budget};
}
}  // namespace

ModelRuntime::Impl::Impl(RuntimeLimits l, SteadyClock clock)
    : registry(events, to_budget(l), std::move(clock)), limits(l) {}

ModelRuntime::Impl::~Impl() {
  if (reaper.joinable()) {
    reaper.request_stop();
    reaper.join();
  }
  if (bg_thread.joinable()) bg_thread.join();
}

MemoryBudget::Limits ModelRuntime::Impl::budget_limits() const {
  std::lock_guard lock(limits_mu);
  return to_budget(limits);
}

Result<ModelRuntime::Impl::Resolved> ModelRuntime::Impl::resolve_in(const AliasTable::Map& map,
                                                                    std::string_view name,
                                                                    std::optional<ModelTask> task) const {
  if (auto it = map.find(std::string(name)); it != map.end()) {
    const ModelSpec& found = it->second.spec;
    if (task && *task != found.task)
      return Error(ErrorCode::capability_mismatch, "alias '" + it->first + "' is a " +
                                                       std::string(to_string(found.task)) + " model, not a " +
                                                       std::string(to_string(*task)) + " model");
    return Resolved{with_auto_task(found), it->second.version};
  }
  std::optional<ModelSpec> spec;
  if (auto colon = name.find(':'); colon != std::string_view::npos) {
    if (auto it = providers.find(std::string(name.substr(0, colon))); it != providers.end()) {
      spec.emplace();
      spec->provider = it->first;
      spec->model = std::string(name.substr(colon + 1));
    }
  }
  if (!spec && (looks_local(name) || name == kAutoModel)) {
    spec.emplace();
    // A local file to transcribe is a whisper.cpp model, whatever provider plain paths default to.
    const bool speech = task == ModelTask::transcribe && providers.count("whisper");
    spec->provider = speech ? "whisper" : default_provider;
    spec->model = std::string(name);
  }
  if (!spec)
    return Error(ErrorCode::alias_not_found,
                 "no alias '" + std::string(name) + "'; known aliases: " + join_keys(map) +
                     "; or name a model as PROVIDER:MODEL (" + join_keys(providers) + ") or a .gguf path");
  if (!task)
    return Error(ErrorCode::invalid_input,
                 "'" + std::string(name) + "' is not an alias, so its task must be given");
  if (!providers.count(spec->provider))
    return Error(ErrorCode::provider_not_found, "no provider '" + spec->provider + "' for '" +
                                                    std::string(name) +
                                                    "'; registered providers: " + join_keys(providers));
  spec->alias = std::string(name);
  spec->task = *task;
  return Resolved{with_auto_task(*spec), std::nullopt};
}

Result<ModelSpec> ModelRuntime::Impl::resolve(std::string_view name, std::optional<ModelTask> task) const {
  auto r = aliases.with_shared([&](const AliasTable::Map& map) { return resolve_in(map, name, task); });
  if (!r.ok()) return r.error();
  return r->spec;
}

LoadPolicy ModelRuntime::Impl::policy_for(const Resolved& r, const AcquireOptions& options) const {
  LoadPolicy policy;
  {
    std::lock_guard lock(limits_mu);
    policy.keep_alive =
        r.spec.keep_alive.value_or(r.alias_version ? limits.keep_alive : limits.adhoc_keep_alive);
  }
  policy.keep_alive_override = options.keep_alive;
  policy.pin = r.spec.pin;
  return policy;
}

Result<AcquiredModel> ModelRuntime::Impl::acquire(const ModelSpec& spec, const LoadControl& control,
                                                  const LoadPolicy& policy) {
  auto it = providers.find(spec.provider);
  if (it == providers.end())
    return Error(ErrorCode::provider_not_found,
                 "no provider '" + spec.provider + "'; registered providers: " + join_keys(providers));
  return registry.acquire(spec, *it->second, control, policy);
}

Result<AcquiredModel> ModelRuntime::Impl::resolve_and_acquire(std::string_view name,
                                                              std::optional<ModelTask> task,
                                                              const AcquireOptions& options,
                                                              ModelSpec& spec_out) {
  const LoadControl control = load_control(options);
  for (int attempt = 0;; ++attempt) {
    // Resolve and take a loaded model under the table's shared lock: a swap re-points only under
    // its exclusive lock, so a call either got the old model before the switch or resolves the new.
    struct Step {
      Result<Resolved> resolved;
      std::optional<AcquiredModel> hit;
      LoadPolicy policy;
    };
    Step step = aliases.with_shared([&](const AliasTable::Map& map) {
      Step s{resolve_in(map, name, task), std::nullopt, {}};
      if (s.resolved.ok()) {
        s.policy = policy_for(*s.resolved, options);
        s.hit = registry.try_acquire(s.resolved->spec, s.policy);
      }
      return s;
    });
    if (!step.resolved.ok()) return step.resolved.error();
    spec_out = step.resolved->spec;
    if (step.hit) return std::move(*step.hit);
    auto acquired = acquire(spec_out, control, step.policy);
    if (!acquired.ok() || !step.resolved->alias_version || attempt >= 3) return acquired;
    // The alias was re-pointed while this call loaded its old target: go to the new one, and let
    // go of the old unless another alias still names it.
    if (aliases.version(std::string(name)) == step.resolved->alias_version) return acquired;
    const std::string stale = make_model_key(spec_out).to_string();
    acquired = Error(ErrorCode::internal, "superseded");
    unload_if_unreferenced(stale, UnloadReason::swapped);
  }
}

void ModelRuntime::Impl::unload_if_unreferenced(const std::string& key, UnloadReason reason) {
  if (!aliases.references(key)) registry.unload(key, reason);
}

void ModelRuntime::Impl::start_background(std::vector<ModelSpec> todo) {
  if (todo.empty()) return;
  {
    std::lock_guard lock(bg_mu);
    bg_running = true;
  }
  bg_thread = std::thread([this, todo = std::move(todo)] {
    for (const auto& spec : todo) {
      AcquireOptions none;
      ModelSpec resolved;
      auto r = resolve_and_acquire(spec.alias, spec.task, none, resolved);
      if (!r.ok()) spdlog::error("background load of {} failed: {}", spec.alias, r.error().to_string());
    }
    {
      std::lock_guard lock(bg_mu);
      bg_running = false;
    }
    bg_cv.notify_all();
  });
}

void ModelRuntime::Impl::start_reaper() {
  // Wakes when a model goes idle or a charge changes (the budget's generation), and at the next
  // expiry; one second at most, so an injected clock is looked at too.
  reaper = std::jthread([this](std::stop_token stop) {
    while (!stop.stop_requested()) {
      const uint64_t generation = registry.budget()->usage().generation;
      registry.expire_idle();
      auto wait = std::chrono::steady_clock::duration(std::chrono::seconds(1));
      if (auto next = registry.next_expiry()) {
        auto until = *next - registry.now();
        wait = std::clamp<std::chrono::steady_clock::duration>(until, std::chrono::milliseconds(1), wait);
      }
      registry.budget()->wait_for_change(generation, std::chrono::steady_clock::now() + wait, stop);
    }
  });
}

// ---------------------------------------------------------------------------------------------------
struct RuntimeBuilder::State {
  std::map<std::string, std::shared_ptr<ModelProvider>> providers;
  std::vector<ModelSpec> specs;
  std::string default_provider = "llamacpp";
  nlohmann::json provider_settings = nlohmann::json::object();
  std::optional<Error> error;                    // the first bad builder call, returned by build()
  std::map<std::string, std::string> locations;  // Config::locations of the added configs
  std::optional<RuntimeLimits> limits;
  std::optional<CacheOptions> cache;
  SteadyClock clock;
};

RuntimeBuilder::RuntimeBuilder() : state_(std::make_unique<State>()) { init_logging(); }
RuntimeBuilder::~RuntimeBuilder() = default;
RuntimeBuilder::RuntimeBuilder(RuntimeBuilder&&) noexcept = default;
RuntimeBuilder& RuntimeBuilder::operator=(RuntimeBuilder&&) noexcept = default;

RuntimeBuilder& RuntimeBuilder::add_provider(std::shared_ptr<ModelProvider> provider) {
  // Builder calls chain, so a bad argument is remembered and reported by build().
  if (!provider) {
    if (!state_->error)
      state_->error =
          Error(ErrorCode::config_invalid, "add_provider() was given no provider (a null pointer)");
    return *this;
  }
  std::string id = provider->id();
  if (id.empty()) {
    if (!state_->error)
      state_->error = Error(ErrorCode::config_invalid, "add_provider(): a provider has an empty id");
    return *this;
  }
  state_->providers[id] = std::move(provider);
  return *this;
}

RuntimeBuilder& RuntimeBuilder::add_spec(ModelSpec spec) {
  state_->specs.push_back(std::move(spec));
  return *this;
}

RuntimeBuilder& RuntimeBuilder::add_config(const Config& config) {
  for (const auto& spec : config.models) add_spec(spec);
  for (const auto& [id, settings] : config.providers.items()) state_->provider_settings[id] = settings;
  for (const auto& [path, where] : config.locations) state_->locations[path] = where;
  if (!config.runtime.empty()) {
    auto limits = parse_runtime_limits(config);
    if (!limits.ok() && !state_->error) state_->error = limits.error();
    if (limits.ok()) state_->limits = *limits;
  }
  if (!config.cache.empty()) {
    auto cache = parse_cache_options(config);
    if (!cache.ok() && !state_->error) state_->error = cache.error();
    if (cache.ok()) state_->cache = *cache;
  }
  return *this;
}

RuntimeBuilder& RuntimeBuilder::set_cache(CacheOptions options) {
  state_->cache = std::move(options);
  return *this;
}

RuntimeBuilder& RuntimeBuilder::set_default_provider(std::string provider_id) {
  state_->default_provider = std::move(provider_id);
  return *this;
}

RuntimeBuilder& RuntimeBuilder::set_limits(RuntimeLimits limits) {
  state_->limits = limits;
  return *this;
}

RuntimeBuilder& RuntimeBuilder::set_clock(std::function<std::chrono::steady_clock::time_point()> now) {
  state_->clock = std::move(now);
  return *this;
}

nlohmann::json RuntimeBuilder::provider_settings(std::string_view provider_id) const {
  auto it = state_->provider_settings.find(std::string(provider_id));
  return it == state_->provider_settings.end() ? nlohmann::json::object() : *it;
}

Result<std::shared_ptr<ModelRuntime>> RuntimeBuilder::build() {
  if (state_->error) return *state_->error;
  SteadyClock clock =
      state_->clock ? state_->clock : SteadyClock([] { return std::chrono::steady_clock::now(); });
  auto impl = std::make_shared<ModelRuntime::Impl>(state_->limits.value_or(default_runtime_limits()), clock);
  impl->providers = state_->providers;
  impl->default_provider = state_->default_provider;
  impl->provider_settings = state_->provider_settings;
  impl->locations = state_->locations;
  if (state_->cache && state_->cache->enabled) {
    CacheOptions options = *state_->cache;
    if (options.dir.empty() && options.disk_bytes > 0) {
      const auto home = default_home();
      if (home.empty())
        options.disk_bytes = 0;  // no home, no disk tier
      else
        options.dir = home / "cache";
    }
    impl->cache = std::make_shared<ResponseCache>(std::move(options));
  }

  std::map<std::string, ModelSpec> specs;
  for (const auto& spec : state_->specs) {
    if (spec.alias.empty()) return Error(ErrorCode::config_invalid, "a model spec has no alias");
    if (!specs.emplace(spec.alias, spec).second)
      return Error(ErrorCode::config_invalid, "alias '" + spec.alias + "' is defined twice");
  }
  if (auto valid = validate_specs(impl->providers, specs, state_->provider_settings, state_->locations);
      !valid.ok())
    return valid.error();
  for (const auto& [alias, spec] : specs) impl->aliases.insert(spec, "config", "config");
  warn_semantic_without_cache(specs, impl->cache != nullptr);

  std::vector<ModelSpec> background;
  for (const auto& [alias, spec] : specs) {
    if (spec.warmup == WarmupPolicy::eager) {
      ModelSpec resolved;
      auto r = impl->resolve_and_acquire(alias, spec.task, {}, resolved);
      if (!r.ok())
        return Error(r.error().code(), "eager load of alias '" + alias + "' failed: " + r.error().message());
    } else if (spec.warmup == WarmupPolicy::background) {
      background.push_back(spec);
    }
  }
  impl->start_background(std::move(background));
  impl->start_reaper();
  return std::shared_ptr<ModelRuntime>(new ModelRuntime(std::move(impl)));
}

// ---------------------------------------------------------------------------------------------------
ModelRuntime::ModelRuntime(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

ModelRuntime::~ModelRuntime() {
  if (impl_->bg_thread.joinable()) impl_->bg_thread.join();
  if (impl_->reaper.joinable()) {
    impl_->reaper.request_stop();
    impl_->reaper.join();
  }
  // No events from here: subscribers may already be gone (they are often destroyed before the
  // runtime they subscribed to). shutdown() is the orderly stop that reports.
}

void ModelRuntime::shutdown() { impl_->registry.unload_all(UnloadReason::shutdown); }

void attach_cache(const std::shared_ptr<ModelRuntime::Impl>& impl, const ModelSpec& spec,
                  const AcquireOptions& options, HandleContext& ctx) {
  if (!impl->cache || ctx.acquired.model->fingerprint.empty() || !spec.cache.value_or(true)) return;
  ctx.cache.cache = impl->cache;
  ctx.cache.identity = make_model_key(spec).to_string() + "|" + ctx.acquired.model->fingerprint;
  ctx.cache.policy = options.cache;
  ctx.cache.sampled_generations = spec.cache.value_or(false);
  if (spec.task == ModelTask::generate) ctx.cache.semantic = semantic_hook(impl, spec);
}

namespace {
template <typename Handle, typename Make>
Result<std::shared_ptr<Handle>> make_handle(const std::shared_ptr<ModelRuntime::Impl>& impl,
                                            std::string_view name, ModelTask task, bool with_fallbacks,
                                            Make make, const AcquireOptions& options);

// A model that cannot load at all may still have a fallback that can serve, unless the caller's
// own bounds are what ran out.
bool load_falls_back(const ModelSpec& spec, const Error& error, const LoadControl& control) {
  if (spec.fallbacks.empty() || control.should_stop() || error.code() == ErrorCode::cancelled) return false;
  return spec.fallback_on_any_error || is_retryable(error.code()) ||
         error.code() == ErrorCode::model_load_failed;
}

template <typename Handle, typename Make>
Result<std::shared_ptr<Handle>> make_handle(const std::shared_ptr<ModelRuntime::Impl>& impl,
                                            std::string_view name, ModelTask task, bool with_fallbacks,
                                            Make make, const AcquireOptions& options) {
  ModelSpec spec;
  auto acquired = [&] {
    trace::Span span = trace::start_span("acquire");  // a load it waits for or runs is its child
    trace::ScopedSpan in_acquire(span);
    auto r = impl->resolve_and_acquire(name, task, options, spec);
    span.set("xervo.model", spec.alias.empty() ? std::string(name) : spec.alias);
    if (!r.ok()) span.set_error(r.error().message());
    return r;
  }();
  if (!acquired.ok()) {
    if (spec.alias.empty()) return acquired.error();  // did not resolve
    if (with_fallbacks && load_falls_back(spec, acquired.error(), load_control(options))) {
      for (const auto& fb : spec.fallbacks) {
        spdlog::warn("{} cannot load ({}); using fallback {}", spec.alias, acquired.error().to_string(), fb);
        auto h = make_handle<Handle>(impl, fb, task, false, make, options);
        if (h.ok()) return h;
      }
    }
    return acquired.error();
  }
  HandleContext ctx{spec.alias, std::move(*acquired), {}, spec.fallback_on_any_error, {}};
  if (with_fallbacks) ctx.fallbacks = spec.fallbacks;
  attach_cache(impl, spec, options, ctx);
  std::weak_ptr<ModelRuntime::Impl> weak = impl;
  FallbackSource<Handle> source = [weak, task,
                                   make](const std::string& alias) -> Result<std::shared_ptr<Handle>> {
    auto self = weak.lock();
    if (!self) return Error(ErrorCode::unavailable, "the runtime is shut down");
    return make_handle<Handle>(self, alias, task, false, make, {});
  };
  return make(std::move(ctx), std::move(source));
}
}  // namespace

Result<std::shared_ptr<EmbeddingModel>> ModelRuntime::embedding(std::string_view name) {
  return embedding(name, AcquireOptions{});
}
Result<std::shared_ptr<RerankerModel>> ModelRuntime::reranker(std::string_view name) {
  return reranker(name, AcquireOptions{});
}
Result<std::shared_ptr<GeneratorModel>> ModelRuntime::generator(std::string_view name) {
  return generator(name, AcquireOptions{});
}
Result<std::shared_ptr<TranscriberModel>> ModelRuntime::transcriber(std::string_view name) {
  return transcriber(name, AcquireOptions{});
}

Result<std::shared_ptr<EmbeddingModel>> ModelRuntime::embedding(std::string_view name,
                                                                const AcquireOptions& options) {
  return make_handle<EmbeddingModel>(impl_, name, ModelTask::embed, true, &make_embedding_handle, options);
}
Result<std::shared_ptr<RerankerModel>> ModelRuntime::reranker(std::string_view name,
                                                              const AcquireOptions& options) {
  return make_handle<RerankerModel>(impl_, name, ModelTask::rerank, true, &make_reranker_handle, options);
}
Result<std::shared_ptr<GeneratorModel>> ModelRuntime::generator(std::string_view name,
                                                                const AcquireOptions& options) {
  return make_handle<GeneratorModel>(impl_, name, ModelTask::generate, true, &make_generator_handle, options);
}
Result<std::shared_ptr<TranscriberModel>> ModelRuntime::transcriber(std::string_view name,
                                                                    const AcquireOptions& options) {
  return make_handle<TranscriberModel>(impl_, name, ModelTask::transcribe, true, &make_transcriber_handle,
                                       options);
}

bool ModelRuntime::cache_enabled() const { return impl_->cache != nullptr; }
CacheStats ModelRuntime::cache_stats() const {
  if (!impl_->cache) return CacheStats{};
  CacheStats s = impl_->cache->stats();
  s.semantic = impl_->semantic.stats();
  return s;
}

void ModelRuntime::clear_cache() {
  if (impl_->cache) impl_->cache->clear();
  impl_->semantic.clear();
}

Result<ModelSpec> ModelRuntime::resolve(std::string_view name, std::optional<ModelTask> task) const {
  return impl_->resolve(name, task);
}

Result<void> ModelRuntime::load(std::string_view alias, const AcquireOptions& options) {
  ModelSpec spec;
  auto r = impl_->resolve_and_acquire(alias, std::nullopt, options, spec);
  if (!r.ok()) return r.error();
  return {};
}

Result<void> ModelRuntime::unload(std::string_view alias_or_key) {
  if (auto slot = impl_->aliases.get(std::string(alias_or_key))) {
    impl_->registry.unload(make_model_key(slot->spec).to_string(), UnloadReason::explicit_);
    return {};
  }
  if (impl_->registry.unload(std::string(alias_or_key), UnloadReason::explicit_)) return {};
  std::vector<std::string> known;
  for (const auto& s : impl_->aliases.specs()) known.push_back(s.alias);
  return Error(ErrorCode::alias_not_found,
               "nothing loaded as '" + std::string(alias_or_key) + "'; known aliases: " + join_names(known));
}

namespace {
// The key an alias or key string names, with the aliases that point at it; alias_not_found if none.
Result<std::pair<std::string, std::vector<std::string>>> key_and_aliases(const ModelRuntime::Impl& impl,
                                                                         std::string_view alias_or_key) {
  if (auto slot = impl.aliases.get(std::string(alias_or_key)))
    return std::make_pair(make_model_key(slot->spec).to_string(), std::vector<std::string>{slot->spec.alias});
  const std::string key(alias_or_key);
  auto aliases = impl.aliases.aliases_of(key);
  if (aliases.empty() && !impl.registry.record(key)) {
    std::vector<std::string> known;
    for (const auto& s : impl.aliases.specs()) known.push_back(s.alias);
    return Error(ErrorCode::alias_not_found,
                 "no alias or loaded model '" + key + "'; known aliases: " + join_names(known));
  }
  return std::make_pair(key, aliases);
}
}  // namespace

Result<void> ModelRuntime::pin(std::string_view alias_or_key, bool pinned) {
  auto target = key_and_aliases(*impl_, alias_or_key);
  if (!target.ok()) return target.error();
  for (const auto& alias : target->second)
    impl_->aliases.update(alias, [&](ModelSpec& s) { s.pin = pinned; });
  impl_->registry.set_pinned(target->first, pinned);
  return {};
}

Result<void> ModelRuntime::set_keep_alive(std::string_view alias_or_key,
                                          std::chrono::milliseconds keep_alive) {
  auto target = key_and_aliases(*impl_, alias_or_key);
  if (!target.ok()) return target.error();
  for (const auto& alias : target->second)
    impl_->aliases.update(alias, [&](ModelSpec& s) { s.keep_alive = keep_alive; });
  impl_->registry.set_keep_alive(target->first, keep_alive);
  return {};
}

Result<SwapResult> ModelRuntime::swap(ModelSpec target, const ChangeOptions& options) {
  std::lock_guard lock(impl_->change_mu);
  auto slot = impl_->aliases.get(target.alias);
  if (!slot) return Error(ErrorCode::alias_not_found, "no alias '" + target.alias + "' to swap");
  return impl_->swap_locked(retargeted(slot->spec, target, true), options, "swap");
}

Result<SwapResult> ModelRuntime::rollback(std::string_view alias, const ChangeOptions& options) {
  std::lock_guard lock(impl_->change_mu);
  auto slot = impl_->aliases.get(std::string(alias));
  if (!slot) return Error(ErrorCode::alias_not_found, "no alias '" + std::string(alias) + "' to roll back");
  if (slot->history.size() < 2)
    return Error(ErrorCode::invalid_input,
                 "alias '" + std::string(alias) + "' has no earlier target to roll back to");
  return impl_->swap_locked(retargeted(slot->spec, slot->history[slot->history.size() - 2].spec, false),
                            options, "rollback");
}

Result<ReloadReport> ModelRuntime::reload(const Config& config, const ChangeOptions& options) {
  std::lock_guard lock(impl_->change_mu);
  return impl_->reload_locked(config, options);
}

size_t ModelRuntime::expire_idle() { return impl_->registry.expire_idle(); }

std::vector<ModelRecord> ModelRuntime::models() const { return impl_->registry.records(); }
std::vector<ModelSpec> ModelRuntime::specs() const { return impl_->aliases.specs(); }
std::vector<AliasInfo> ModelRuntime::aliases() const { return impl_->aliases.infos(); }

MemoryStatus ModelRuntime::memory() const {
  MemoryStatus s = impl_->registry.memory_status();
  s.physical = physical_memory_bytes();
  return s;
}

RuntimeLimits ModelRuntime::limits() const {
  std::lock_guard lock(impl_->limits_mu);
  return impl_->limits;
}

std::vector<std::shared_ptr<ModelProvider>> ModelRuntime::providers() const {
  std::vector<std::shared_ptr<ModelProvider>> out;
  for (const auto& [id, p] : impl_->providers) out.push_back(p);
  return out;
}

uint64_t ModelRuntime::subscribe(ModelEventCallback callback) {
  return impl_->events.subscribe(std::move(callback));
}
void ModelRuntime::unsubscribe(uint64_t id) { impl_->events.unsubscribe(id); }

void ModelRuntime::wait_for_background_loads() {
  std::unique_lock lock(impl_->bg_mu);
  impl_->bg_cv.wait(lock, [&] { return !impl_->bg_running; });
}

bool ModelRuntime::ready() const {
  for (const auto& spec : impl_->aliases.specs()) {
    if (spec.warmup == WarmupPolicy::lazy) continue;
    auto rec = impl_->registry.record(make_model_key(spec).to_string());
    if (!rec || rec->state != ModelState::loaded) return false;
  }
  return true;
}

}  // namespace xervo
