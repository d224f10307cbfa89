#include "cli/command.h"

#include <algorithm>
#include <fstream>
#include <map>
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
  resolver = make_library_resolver(config.library, config.path);
#endif
  add_builtin_providers(builder, resolver);
  return builder.build().value_or_throw();
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
