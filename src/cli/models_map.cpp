// `xervo models map sync|status [NAME]` (links into other apps' folders) and
// `xervo models requirements ID` (the requirements contract).
#if XERVO_HAVE_LIBRARY

#include <cstdio>

#include "cli/models_common.h"

namespace xervo::cli {
namespace {

void add_map_sync(CLI::App* map, GlobalOptions& globals) {
  auto name = std::make_shared<std::string>();
  auto* cmd = map->add_subcommand("sync", "Create and remove links so each target matches its mapping");
  cmd->add_option("name", *name, "one mapping (default: all)");
  cmd->callback([&globals, name] {
    auto reports = open_library(globals)->map_sync(*name).value_or_throw();
    bool errors = false;
    for (const auto& r : reports) {
      std::printf("%s: %d created, %d removed, %d unchanged\n", r.mapping.c_str(), r.created, r.removed,
                  r.unchanged);
      for (const auto& e : r.errors) std::fprintf(stderr, "  %s\n", e.c_str());
      errors |= !r.errors.empty();
    }
    if (errors) throw CLI::RuntimeError(1);
  });
}

struct MapStatusOptions {
  std::string name;
  bool json = false;
};

void add_map_status(CLI::App* map, GlobalOptions& globals) {
  auto o = std::make_shared<MapStatusOptions>();
  auto* cmd = map->add_subcommand("status", "Show each mapped entry: ok, missing, stale, orphan, conflict");
  cmd->add_option("name", o->name, "one mapping (default: all)");
  cmd->add_flag("--json", o->json, "JSON output");
  cmd->callback([&globals, o] {
    auto entries = open_library(globals)->map_status(o->name).value_or_throw();
    if (o->json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& e : entries)
        arr.push_back({{"mapping", e.mapping},
                       {"target", e.target.string()},
                       {"model_id", e.model_id},
                       {"state", e.state}});
      print_json(arr);
      return;
    }
    std::vector<std::vector<std::string>> rows = {{"MAPPING", "STATE", "MODEL", "TARGET"}};
    for (const auto& e : entries) rows.push_back({e.mapping, e.state, e.model_id, e.target.string()});
    print_table(rows);
  });
}

void setup_models_map(CLI::App& app, GlobalOptions& globals) {
  auto* map = app.get_subcommand("models")->add_subcommand(
      "map", "Expose library models in other apps' folders (XERVO_HOME/mappings/*.toml)");
  map->require_subcommand(1);
  add_map_sync(map, globals);
  add_map_status(map, globals);
}

struct RequirementsOptions {
  std::string id, platform, backend;
  bool json = false;
};

void print_contract(const std::string& id, const nlohmann::json& c) {
  std::printf("%s on %s/%s: %s\n", id.c_str(), c["profile"]["platform"].get<std::string>().c_str(),
              c["profile"]["backend"].get<std::string>().c_str(), c["state"].get<std::string>().c_str());
  for (const auto& g : c["groups"])
    for (const auto& r : g["requirements"])
      std::printf("  %-4s %-24s %s\n", r["ok"].get<bool>() ? "ok" : "FAIL",
                  r["name"].get<std::string>().c_str(), r["detail"].get<std::string>().c_str());
  for (const auto& e : c["errors"])
    if (e["code"] != "missing_requirements")
      std::printf("  %s: %s\n", e["code"].get<std::string>().c_str(),
                  e["message"].get<std::string>().c_str());
}

void setup_models_requirements(CLI::App& app, GlobalOptions& globals) {
  auto o = std::make_shared<RequirementsOptions>();
  auto* cmd = app.get_subcommand("models")->add_subcommand(
      "requirements", "Check whether a model can run on a platform and backend");
  cmd->add_option("id", o->id, "model id, library:ID, hf:ORG/REPO[:QUANT], or a remote model name")
      ->required();
  cmd->add_option("--platform", o->platform, "OS-ARCH, e.g. linux-x86_64 (default: this machine)");
  cmd->add_option("--backend", o->backend, "cpu (default), cuda, metal, vulkan, openai, gemini");
  cmd->add_flag("--json", o->json, "print the versioned JSON contract");
  cmd->callback([&globals, o] {
    Config config = load_config(globals);
    RequirementsQuery q{o->platform, o->backend, nlohmann::json::object()};
    // A remote backend is checked with the provider's own settings (api_key_env, base_url).
    if (config.providers.is_object() && config.providers.contains(o->backend))
      q.provider_settings = config.providers[o->backend];
    auto c = resolve_model_dependency_requirements(*open_library(config), o->id, q);
    if (o->json)
      print_json(c);
    else
      print_contract(o->id, c);
    // Scripts branch on the exit status: 0 resolved, 2 anything else.
    if (!c["ready"].get<bool>()) throw CLI::RuntimeError(2);
  });
}

}  // namespace

XERVO_CLI_COMMAND(43, setup_models_map);
XERVO_CLI_COMMAND(44, setup_models_requirements);

}  // namespace xervo::cli

#endif
