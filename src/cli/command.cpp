#include "cli/command.h"

#include <fstream>
#include <map>
#include <sstream>

#include "xervo/providers.h"
#if XERVO_HAVE_LIBRARY
#include "xervo/library.h"
#endif

namespace xervo::cli {
namespace {

std::multimap<int, CommandSetup>& commands() {
  static std::multimap<int, CommandSetup> table;
  return table;
}

}  // namespace

CommandRegistrar::CommandRegistrar(int order, CommandSetup setup) { commands().emplace(order, std::move(setup)); }

void setup_commands(CLI::App& app, GlobalOptions& globals) {
  for (auto& [order, setup] : commands()) setup(app, globals);
}

Config load_config(const GlobalOptions& globals) {
  auto path = find_config_file(globals.config_path);
  if (path.empty()) return Config{};
  return load_config_file(path).value_or_throw();
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
  resolver = make_library_resolver(config.library);
#endif
  add_builtin_providers(builder, resolver);
  return builder.build().value_or_throw();
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Exception(Error(ErrorCode::invalid_input, "cannot read " + path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace xervo::cli
