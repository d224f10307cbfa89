// `xervo status`: the providers, their health, and every configured alias with its state.
#include <cstdio>

#include "cli/command.h"

namespace xervo::cli {
namespace {

void setup_status(CLI::App& app, GlobalOptions& globals) {
  auto* cmd = app.add_subcommand("status", "Show providers and configured aliases");
  cmd->callback([&globals] {
    auto runtime = open_runtime(globals);
    std::printf("providers:\n");
    for (const auto& p : runtime->providers()) {
      auto health = p->health();
      std::string tasks;
      for (auto t : p->capabilities().tasks) tasks += (tasks.empty() ? "" : ",") + std::string(to_string(t));
      std::printf("  %-10s %-22s %s%s\n", p->id().c_str(), tasks.c_str(), health.ok ? "ok" : "unhealthy",
                  health.detail.empty() ? "" : (": " + health.detail).c_str());
    }
    auto specs = runtime->specs();
    std::printf("aliases:%s\n", specs.empty() ? " (none configured)" : "");
    for (const auto& s : specs)
      std::printf("  %-20s %-8s %s:%s (warmup %s)\n", s.alias.c_str(), std::string(to_string(s.task)).c_str(),
                  s.provider.c_str(), s.model.c_str(), std::string(to_string(s.warmup)).c_str());
  });
}

}  // namespace

XERVO_CLI_COMMAND(10, setup_status);

}  // namespace xervo::cli
