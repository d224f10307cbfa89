// The xervo command line: each subcommand lives in its own file and registers itself here with
// XERVO_CLI_COMMAND, so main() stays a dispatcher. Commands run on the main thread.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "xervo/error.h"
#include "xervo/runtime.h"

namespace xervo {
class ModelLibrary;
}

namespace xervo::cli {

// Flags every command shares.
struct GlobalOptions {
  std::string config_path;  // --config, else $XERVO_CONFIG, else ./xervo.toml
  bool demo = false;        // --demo: add the generated demo models and their aliases
};

// Adds `--demo` to a command (it may also come before the command: `xervo --demo embed ...`).
void add_demo_flag(CLI::App* command, GlobalOptions& globals);

// Adds one subcommand to `app`. The command's callback does the work and throws xervo::Exception
// on failure; main() prints it as one line and exits non-zero.
using CommandSetup = std::function<void(CLI::App& app, GlobalOptions& globals)>;

struct CommandRegistrar {
  CommandRegistrar(int order, CommandSetup setup);
};
void setup_commands(CLI::App& app, GlobalOptions& globals);

#define XERVO_CLI_COMMAND(order, setup_fn) \
  static const ::xervo::cli::CommandRegistrar xervo_cli_registrar_##setup_fn(order, setup_fn)

// The config named by the globals (or none), parsed; throws on a malformed file. With --demo, the
// demo aliases (embed/default, rerank/default, chat/default) are added, their models generated
// under XERVO_HOME (or imported into the library) on first use.
Config load_config(const GlobalOptions& globals);
// The config file alone, without demo aliases.
Config load_config_file_of(const GlobalOptions& globals);
// Adds the demo aliases to `config`, generating their models when missing; `library` (may be null)
// holds them when given, as `xervo serve --demo` does. Throws when this build cannot make them.
void add_demo_models(Config& config, const std::shared_ptr<ModelLibrary>& library);
// The model library of [library] (XERVO_HOME otherwise), or null with a warning when it cannot
// open: commands that only need it for extras go on without it. Null in builds without a library.
std::shared_ptr<ModelLibrary> open_library_or_null(const Config& config);
// Whether anything asks for provider `id`: a [providers.ID] table, an alias using it, or it is the
// provider of plain model paths (llamacpp). Commands touch no network for providers nobody asked for.
bool provider_configured(const Config& config, std::string_view id);
// A runtime with every built-in provider and the config's aliases. `lazy_only` turns eager and
// background warmups into lazy ones (commands that use one model should not load all of them).
std::shared_ptr<ModelRuntime> open_runtime(const GlobalOptions& globals, bool lazy_only = true);
// The runtime for an already loaded config: built-in providers, the library resolver, its aliases.
std::shared_ptr<ModelRuntime> build_runtime(const Config& config);

// What `-m NAME` names: NAME itself, or "library:NAME" when NAME is no alias but a model of the
// library by the id `xervo models list` prints ("publisher/name").
std::string model_id_for(const GlobalOptions& globals, const ModelRuntime& runtime, const std::string& name);

// Reads a whole file or throws invalid_input naming it.
std::string read_text_file(const std::string& path);

}  // namespace xervo::cli
