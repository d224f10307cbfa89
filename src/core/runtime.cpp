#include "xervo/runtime.h"

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "core/config_path.h"
#include "core/event_bus.h"
#include "core/handles.h"
#include "core/log.h"
#include "core/registry.h"

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
    case ModelEventKind::loaded:
      return "loaded";
    case ModelEventKind::failed:
      return "failed";
    case ModelEventKind::unloaded:
      return "unloaded";
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

}  // namespace

// ---------------------------------------------------------------------------------------------------
struct ModelRuntime::Impl : std::enable_shared_from_this<ModelRuntime::Impl> {
  std::map<std::string, std::shared_ptr<ModelProvider>> providers;
  std::map<std::string, ModelSpec> specs;  // by alias
  std::string default_provider;
  EventBus events;
  ModelRegistry registry{events};

  std::mutex bg_mu;
  std::condition_variable bg_cv;
  bool bg_running = false;  // GUARDED_BY(bg_mu)
  std::thread bg_thread;

  ~Impl() {
    if (bg_thread.joinable()) bg_thread.join();
  }

  Result<ModelSpec> resolve(std::string_view name, std::optional<ModelTask> task) const {
    if (auto it = specs.find(std::string(name)); it != specs.end()) {
      if (task && *task != it->second.task)
        return Error(ErrorCode::capability_mismatch,
                     "alias '" + it->first + "' is a " + std::string(to_string(it->second.task)) +
                         " model, not a " + std::string(to_string(*task)) + " model");
      return it->second;
    }
    std::optional<ModelSpec> spec;
    if (auto colon = name.find(':'); colon != std::string_view::npos) {
      if (auto it = providers.find(std::string(name.substr(0, colon))); it != providers.end()) {
        spec.emplace();
        spec->provider = it->first;
        spec->model = std::string(name.substr(colon + 1));
      }
    }
    if (!spec && looks_local(name)) {
      spec.emplace();
      spec->provider = default_provider;
      spec->model = std::string(name);
    }
    if (!spec)
      return Error(ErrorCode::alias_not_found,
                   "no alias '" + std::string(name) + "'; known aliases: " + join_keys(specs) +
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
    return *spec;
  }

  Result<AcquiredModel> acquire(const ModelSpec& spec, const LoadControl& control = {}) {
    auto it = providers.find(spec.provider);
    if (it == providers.end())
      return Error(ErrorCode::provider_not_found,
                   "no provider '" + spec.provider + "'; registered providers: " + join_keys(providers));
    return registry.acquire(spec, *it->second, control);
  }

  // A model that cannot load at all may still have a fallback that can serve, unless the caller's
  // own bounds are what ran out.
  static bool load_falls_back(const ModelSpec& spec, const Error& error, const LoadControl& control) {
    if (spec.fallbacks.empty() || control.should_stop() || error.code() == ErrorCode::cancelled) return false;
    return spec.fallback_on_any_error || is_retryable(error.code()) ||
           error.code() == ErrorCode::model_load_failed;
  }

  template <typename Handle, typename Make>
  Result<std::shared_ptr<Handle>> handle(std::string_view name, ModelTask task, bool with_fallbacks,
                                         Make make, const LoadControl& control = {}) {
    auto spec = resolve(name, task);
    if (!spec.ok()) return spec.error();
    auto acquired = acquire(*spec, control);
    if (!acquired.ok()) {
      if (with_fallbacks && load_falls_back(*spec, acquired.error(), control)) {
        for (const auto& fb : spec->fallbacks) {
          spdlog::warn("{} cannot load ({}); using fallback {}", spec->alias, acquired.error().to_string(),
                       fb);
          auto h = handle<Handle>(fb, task, false, make, control);
          if (h.ok()) return h;
        }
      }
      return acquired.error();
    }
    HandleContext ctx{spec->alias, std::move(*acquired), {}, spec->fallback_on_any_error};
    if (with_fallbacks) ctx.fallbacks = spec->fallbacks;
    std::weak_ptr<Impl> weak = weak_from_this();
    FallbackSource<Handle> source = [weak, task,
                                     make](const std::string& alias) -> Result<std::shared_ptr<Handle>> {
      auto self = weak.lock();
      if (!self) return Error(ErrorCode::unavailable, "the runtime is shut down");
      return self->template handle<Handle>(alias, task, false, make);
    };
    return make(std::move(ctx), std::move(source));
  }

  void start_background(std::vector<ModelSpec> todo) {
    if (todo.empty()) return;
    {
      std::lock_guard lock(bg_mu);
      bg_running = true;
    }
    bg_thread = std::thread([this, todo = std::move(todo)] {
      for (const auto& spec : todo) {
        auto r = acquire(spec);
        if (!r.ok()) spdlog::error("background load of {} failed: {}", spec.alias, r.error().to_string());
      }
      {
        std::lock_guard lock(bg_mu);
        bg_running = false;
      }
      bg_cv.notify_all();
    });
  }
};

// ---------------------------------------------------------------------------------------------------
struct RuntimeBuilder::State {
  std::map<std::string, std::shared_ptr<ModelProvider>> providers;
  std::vector<ModelSpec> specs;
  std::string default_provider = "llamacpp";
  nlohmann::json provider_settings = nlohmann::json::object();
  std::optional<Error> error;                    // the first bad builder call, returned by build()
  std::map<std::string, std::string> locations;  // Config::locations of the added configs
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
  return *this;
}

RuntimeBuilder& RuntimeBuilder::set_default_provider(std::string provider_id) {
  state_->default_provider = std::move(provider_id);
  return *this;
}

nlohmann::json RuntimeBuilder::provider_settings(std::string_view provider_id) const {
  auto it = state_->provider_settings.find(std::string(provider_id));
  return it == state_->provider_settings.end() ? nlohmann::json::object() : *it;
}

namespace {
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

Result<std::shared_ptr<ModelRuntime>> RuntimeBuilder::build() {
  if (state_->error) return *state_->error;
  auto impl = std::make_shared<ModelRuntime::Impl>();
  impl->providers = state_->providers;
  impl->default_provider = state_->default_provider;

  for (const auto& spec : state_->specs) {
    const std::string where = "alias '" + spec.alias + "'";
    if (spec.alias.empty()) return Error(ErrorCode::config_invalid, "a model spec has no alias");
    if (impl->specs.count(spec.alias)) return Error(ErrorCode::config_invalid, where + " is defined twice");
    auto p = impl->providers.find(spec.provider);
    if (p == impl->providers.end())
      return Error(ErrorCode::provider_not_found,
                   where + " names provider '" + spec.provider +
                       "'; registered providers: " + join_keys(impl->providers));
    if (!p->second->capabilities().supports(spec.task))
      return Error(ErrorCode::capability_mismatch,
                   where + ": provider '" + spec.provider + "' cannot " + std::string(to_string(spec.task)));
    if (spec.model.empty()) return Error(ErrorCode::config_invalid, where + " has no model");
    impl->specs.emplace(spec.alias, spec);
  }
  if (auto fallbacks = check_fallbacks(impl->specs); !fallbacks.ok()) return fallbacks.error();
  if (auto keys =
          check_setting_keys(impl->providers, state_->provider_settings, impl->specs, state_->locations);
      !keys.ok())
    return keys.error();

  std::vector<ModelSpec> background;
  for (const auto& [alias, spec] : impl->specs) {
    if (spec.warmup == WarmupPolicy::eager) {
      auto r = impl->acquire(spec);
      if (!r.ok())
        return Error(r.error().code(), "eager load of alias '" + alias + "' failed: " + r.error().message());
    } else if (spec.warmup == WarmupPolicy::background) {
      background.push_back(spec);
    }
  }
  impl->start_background(std::move(background));
  return std::shared_ptr<ModelRuntime>(new ModelRuntime(std::move(impl)));
}

// ---------------------------------------------------------------------------------------------------
ModelRuntime::ModelRuntime(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

ModelRuntime::~ModelRuntime() {
  if (impl_->bg_thread.joinable()) impl_->bg_thread.join();
}

Result<std::shared_ptr<EmbeddingModel>> ModelRuntime::embedding(std::string_view name) {
  return impl_->handle<EmbeddingModel>(name, ModelTask::embed, true, &make_embedding_handle);
}

Result<std::shared_ptr<RerankerModel>> ModelRuntime::reranker(std::string_view name) {
  return impl_->handle<RerankerModel>(name, ModelTask::rerank, true, &make_reranker_handle);
}

Result<std::shared_ptr<GeneratorModel>> ModelRuntime::generator(std::string_view name) {
  return impl_->handle<GeneratorModel>(name, ModelTask::generate, true, &make_generator_handle);
}

namespace {
LoadControl load_control(const AcquireOptions& options) {
  return LoadControl{options.cancel, options.deadline};
}
}  // namespace

Result<std::shared_ptr<EmbeddingModel>> ModelRuntime::embedding(std::string_view name,
                                                                const AcquireOptions& options) {
  return impl_->handle<EmbeddingModel>(name, ModelTask::embed, true, &make_embedding_handle,
                                       load_control(options));
}

Result<std::shared_ptr<RerankerModel>> ModelRuntime::reranker(std::string_view name,
                                                              const AcquireOptions& options) {
  return impl_->handle<RerankerModel>(name, ModelTask::rerank, true, &make_reranker_handle,
                                      load_control(options));
}

Result<std::shared_ptr<GeneratorModel>> ModelRuntime::generator(std::string_view name,
                                                                const AcquireOptions& options) {
  return impl_->handle<GeneratorModel>(name, ModelTask::generate, true, &make_generator_handle,
                                       load_control(options));
}

Result<ModelSpec> ModelRuntime::resolve(std::string_view name, std::optional<ModelTask> task) const {
  return impl_->resolve(name, task);
}

Result<void> ModelRuntime::load(std::string_view alias, const AcquireOptions& options) {
  auto spec = impl_->resolve(alias, std::nullopt);
  if (!spec.ok()) return spec.error();
  auto r = impl_->acquire(*spec, load_control(options));
  if (!r.ok()) return r.error();
  return {};
}

Result<void> ModelRuntime::unload(std::string_view alias_or_key) {
  if (auto it = impl_->specs.find(std::string(alias_or_key)); it != impl_->specs.end()) {
    impl_->registry.unload(make_model_key(it->second).to_string());
    return {};
  }
  if (impl_->registry.unload(std::string(alias_or_key))) return {};
  return Error(ErrorCode::alias_not_found, "nothing loaded as '" + std::string(alias_or_key) +
                                               "'; known aliases: " + join_keys(impl_->specs));
}

std::vector<ModelRecord> ModelRuntime::models() const { return impl_->registry.records(); }

std::vector<ModelSpec> ModelRuntime::specs() const {
  std::vector<ModelSpec> out;
  for (const auto& [alias, spec] : impl_->specs) out.push_back(spec);
  return out;
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
  for (const auto& [alias, spec] : impl_->specs) {
    if (spec.warmup == WarmupPolicy::lazy) continue;
    auto rec = impl_->registry.record(make_model_key(spec).to_string());
    if (!rec || rec->state != ModelState::loaded) return false;
  }
  return true;
}

}  // namespace xervo
