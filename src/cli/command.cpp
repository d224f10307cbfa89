#include "cli/command.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "core/log.h"
#include "xervo/providers.h"
#if XERVO_HAVE_LIBRARY
#include "xervo/library.h"
#endif
#if XERVO_HAVE_SERVER
#include "cli/demo_real.h"
#include "server/demo.h"
#endif

namespace xervo::cli {
namespace {

// The provider of plain model paths (RuntimeBuilder's default provider): usable without any config.
constexpr std::string_view kLocalProvider = "llamacpp";

std::multimap<int, CommandSetup>& commands() {
  static std::multimap<int, CommandSetup> table;
  return table;
}

}  // namespace

CommandRegistrar::CommandRegistrar(int order, CommandSetup setup) {
  commands().emplace(order, std::move(setup));
}

void setup_commands(CLI::App& app, GlobalOptions& globals) {
  for (auto& [order, setup] : commands()) setup(app, globals);
}

void add_demo_flag(CLI::App* command, GlobalOptions& globals) {
  command->add_flag("--demo", globals.demo,
                    "also use the generated demo models as embed/default, rerank/default, chat/default");
}

Config load_config_file_of(const GlobalOptions& globals) {
  auto path = find_config_file(globals.config_path);
  if (path.empty()) return Config{};
  return load_config_file(path).value_or_throw();
}

Config load_config(const GlobalOptions& globals) {
  Config config = load_config_file_of(globals);
  if (globals.demo) add_demo_models(config, open_library_or_null(config));
  return config;
}

void add_demo_models(Config& config, const std::shared_ptr<ModelLibrary>& library) {
#if XERVO_HAVE_SERVER
  auto home = default_home();
#if XERVO_HAVE_LIBRARY
  if (library && !library->options().home.empty()) home = library->options().home;
#endif
  if (home.empty())
    throw Exception(Error(ErrorCode::config_invalid, "no place for the demo models: set XERVO_HOME or HOME"));
  auto models = server::ensure_demo_models(home, library).value_or_throw();
  use_real_demo_models(models, home);
  server::add_demo_aliases(config, models);
#else
  (void)config;
  (void)library;
  throw Exception(
      Error(ErrorCode::unavailable, "this build has no demo models (it was built without the server)"));
#endif
}

std::shared_ptr<ModelLibrary> open_library_or_null(const Config& config) {
#if XERVO_HAVE_LIBRARY
  auto options = library_options_from_json(config.library, config.path);
  if (!options.ok()) throw Exception(options.error());
  auto library = ModelLibrary::open(*options);
  if (!library.ok()) {
    spdlog::warn("model library unavailable ({})", library.error().to_string());
    return nullptr;
  }
  return *library;
#else
  (void)config;
  return nullptr;
#endif
}

bool provider_configured(const Config& config, std::string_view id) {
  if (id == kLocalProvider) return true;
  if (config.providers.is_object() && config.providers.contains(std::string(id))) return true;
  return std::any_of(config.models.begin(), config.models.end(),
                     [&](const ModelSpec& spec) { return spec.provider == id; });
}

std::shared_ptr<ModelRuntime> open_runtime(const GlobalOptions& globals, bool lazy_only) {
  Config config = load_config(globals);
  if (lazy_only)
    for (auto& spec : config.models) spec.warmup = WarmupPolicy::lazy;
  return build_runtime(config);
}

std::shared_ptr<ModelRuntime> build_runtime(const Config& config) {
  RuntimeBuilder builder;
  builder.add_config(config);
  std::shared_ptr<ModelResolver> resolver;
#if XERVO_HAVE_LIBRARY
  // `model = "auto"` weighs the budget and the devices of the providers built below (weakly held:
  // the providers hold the resolver).
  struct DeviceSource {
    std::mutex mu;
    std::vector<std::weak_ptr<ModelProvider>> providers;  // GUARDED_BY(mu)
  };
  auto source = std::make_shared<DeviceSource>();
  AutoModelContext auto_context;
  if (auto limits = parse_runtime_limits(config); limits.ok())
    auto_context.memory_budget = limits->memory_budget;
  auto_context.devices = [source] {
    std::vector<std::weak_ptr<ModelProvider>> providers;
    {
      std::lock_guard lock(source->mu);
      providers = source->providers;
    }
    std::vector<ComputeDevice> out;
    for (const auto& weak : providers)
      if (auto p = weak.lock())
        for (auto& d : p->devices())
          if (std::none_of(out.begin(), out.end(), [&](const ComputeDevice& o) { return o.name == d.name; }))
            out.push_back(std::move(d));
    return out;
  };
  resolver = make_library_resolver(config.library, config.path, std::move(auto_context));
#endif
  add_builtin_providers(builder, resolver);
  auto runtime = builder.build().value_or_throw();
#if XERVO_HAVE_LIBRARY
  std::lock_guard lock(source->mu);
  for (const auto& p : runtime->providers()) source->providers.push_back(p);
#endif
  return runtime;
}

std::string model_id_for(const GlobalOptions& globals, const ModelRuntime& runtime, const std::string& name) {
#if XERVO_HAVE_LIBRARY
  auto spec = runtime.resolve(name);
  if (!spec.ok() && spec.error().code() == ErrorCode::alias_not_found && is_library_id(name)) {
    auto library = open_library_or_null(load_config(globals));
    if (library && library->get(name).ok()) return "library:" + name;
  }
#else
  (void)globals;
  (void)runtime;
#endif
  return name;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Exception(Error(ErrorCode::invalid_input, "cannot read " + path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace xervo::cli
