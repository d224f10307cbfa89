// `xervo status`: the providers, their health, the compute devices, and every configured alias with its
// state. Only the providers somebody asked for are checked: one with no [providers.ID] table and no alias is
// listed as not configured, and nothing is sent to it.
#include <algorithm>
#include <cstdio>

#include "cli/command.h"

namespace xervo::cli {
namespace {

std::string task_list(const ModelProvider& provider) {
  std::string tasks;
  for (auto t : provider.capabilities().tasks)
    tasks += (tasks.empty() ? "" : ",") + std::string(to_string(t));
  return tasks;
}

void print_providers(const Config& config, ModelRuntime& runtime) {
  std::printf("providers:\n");
  for (const auto& p : runtime.providers()) {
    const std::string id = p->id();
    std::string state;
    if (!provider_configured(config, id)) {
      state = "not configured (no [providers." + id + "] table and no alias uses it)";
    } else {
      auto health = p->health();
      state =
          std::string(health.ok ? "ok" : "unhealthy") + (health.detail.empty() ? "" : ": " + health.detail);
    }
    std::printf("  %-10s %-22s %s\n", id.c_str(), task_list(*p).c_str(), state.c_str());
  }
}

std::string mib(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// The compute devices of the local engines (ggml's backend devices), once each.
void print_devices(ModelRuntime& runtime) {
  std::vector<std::string> seen;
  std::printf("devices:\n");
  for (const auto& p : runtime.providers())
    for (const auto& d : p->devices()) {
      if (std::find(seen.begin(), seen.end(), d.name) != seen.end()) continue;
      seen.push_back(d.name);
      std::printf("  %-10s %-8s %-6s %s free of %s  %s\n", d.name.c_str(), d.backend.c_str(), d.type.c_str(),
                  mib(d.memory_free).c_str(), mib(d.memory_total).c_str(), d.description.c_str());
    }
  if (seen.empty()) std::printf("  (no local engine in this build)\n");
}

void print_aliases(ModelRuntime& runtime) {
  auto specs = runtime.specs();
  std::printf("aliases:%s\n", specs.empty() ? " (none configured)" : "");
  for (const auto& s : specs)
    std::printf("  %-20s %-8s %s:%s (warmup %s)\n", s.alias.c_str(), std::string(to_string(s.task)).c_str(),
                s.provider.c_str(), s.model.c_str(), std::string(to_string(s.warmup)).c_str());
}

void setup_status(CLI::App& app, GlobalOptions& globals) {
  auto* cmd = app.add_subcommand("status", "Show providers and configured aliases");
  add_demo_flag(cmd, globals);
  cmd->callback([&globals] {
    Config config = load_config(globals);
    for (auto& spec : config.models) spec.warmup = WarmupPolicy::lazy;  // status loads nothing
    auto runtime = build_runtime(config);
    print_providers(config, *runtime);
    print_devices(*runtime);
    print_aliases(*runtime);
  });
}

}  // namespace

XERVO_CLI_COMMAND(10, setup_status);

}  // namespace xervo::cli
