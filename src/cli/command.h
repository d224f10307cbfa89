// The xervo command line: each subcommand lives in its own file and registers itself here with
// XERVO_CLI_COMMAND, so main() stays a dispatcher. Commands run on the main thread.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "xervo/error.h"
#include "xervo/runtime.h"

namespace xervo::cli {

// Flags every command shares.
struct GlobalOptions {
  std::string config_path;  // --config, else $XERVO_CONFIG, else ./xervo.toml
};

// Adds one subcommand to `app`. The command's callback does the work and throws xervo::Exception
// on failure; main() prints it as one line and exits non-zero.
using CommandSetup = std::function<void(CLI::App& app, GlobalOptions& globals)>;

struct CommandRegistrar {
  CommandRegistrar(int order, CommandSetup setup);
};
void setup_commands(CLI::App& app, GlobalOptions& globals);

#define XERVO_CLI_COMMAND(order, setup_fn) \
  static const ::xervo::cli::CommandRegistrar xervo_cli_registrar_##setup_fn(order, setup_fn)

// The config named by the globals (or none), parsed; throws on a malformed file.
Config load_config(const GlobalOptions& globals);
// A runtime with every built-in provider and the config's aliases. `lazy_only` turns eager and
// background warmups into lazy ones (commands that use one model should not load all of them).
std::shared_ptr<ModelRuntime> open_runtime(const GlobalOptions& globals, bool lazy_only = true);
// The runtime for an already loaded config: built-in providers, the library resolver, its aliases.
std::shared_ptr<ModelRuntime> build_runtime(const Config& config);

// Reads a whole file or throws invalid_input naming it.
std::string read_text_file(const std::string& path);

}  // namespace xervo::cli
