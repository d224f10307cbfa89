// xervo: one binary for every task. Subcommands register themselves (cli/command.h).
#include <cstdio>

#include "cli/command.h"
#include "core/log.h"

int main(int argc, char** argv) {
  xervo::init_logging();
  CLI::App app{"xervo: one typed API for embedding, reranking and generation models", "xervo"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "xervo 0.1.0");
  xervo::cli::GlobalOptions globals;
  app.add_option("--config", globals.config_path,
                 "xervo.toml to read (default: $XERVO_CONFIG, else ./xervo.toml)");
  xervo::cli::add_demo_flag(&app, globals);
  xervo::cli::setup_commands(app, globals);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const xervo::Exception& e) {
    std::fprintf(stderr, "xervo: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xervo: %s\n", e.what());
    return 1;
  }
  return 0;
}
