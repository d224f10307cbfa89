// `xervo models map sync|status [NAME]` (links into other apps' folders) and
// `xervo models requirements ID` (the requirements contract).
#if XERVO_HAVE_LIBRARY

#include <cstdio>

#include "cli/models_common.h"

namespace xervo::cli {
namespace {

void setup_models_map(CLI::App& app, GlobalOptions& globals) {
  auto* models = app.get_subcommand("models");
  auto* map = models->add_subcommand(
      "map", "Expose library models in other apps' folders (XERVO_HOME/mappings/*.toml)");
  map->require_subcommand(1);

  static std::string sync_name;
  auto* sync = map->add_subcommand("sync", "Create and remove links so each target matches its mapping");
  sync->add_option("name", sync_name, "one mapping (default: all)");
  sync->callback([&globals] {
    auto lib = open_library(globals);
    auto reports = lib->map_sync(sync_name).value_or_throw();
    bool errors = false;
    for (const auto& r : reports) {
      std::printf("%s: %d created, %d removed, %d unchanged\n", r.mapping.c_str(), r.created, r.removed,
                  r.unchanged);
      for (const auto& e : r.errors) std::fprintf(stderr, "  %s\n", e.c_str());
      errors |= !r.errors.empty();
    }
    if (errors) throw CLI::RuntimeError(1);
  });

  static std::string status_name;
  static bool status_json = false;
  auto* status =
      map->add_subcommand("status", "Show each mapped entry: ok, missing, stale, orphan, conflict");
  status->add_option("name", status_name, "one mapping (default: all)");
  status->add_flag("--json", status_json, "JSON output");
  status->callback([&globals] {
    auto lib = open_library(globals);
    auto entries = lib->map_status(status_name).value_or_throw();
    if (status_json) {
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

void setup_models_requirements(CLI::App& app, GlobalOptions& globals) {
  auto* models = app.get_subcommand("models");
  static std::string id, platform, backend;
  static bool json = false;
  auto* req =
      models->add_subcommand("requirements", "Check whether a model can run on a platform and backend");
  req->add_option("id", id, "model id, library:ID, hf:ORG/REPO[:QUANT], or a remote model name")->required();
  req->add_option("--platform", platform, "OS-ARCH, e.g. linux-x86_64 (default: this machine)");
  req->add_option("--backend", backend, "cpu (default), cuda, metal, vulkan, openai, gemini");
  req->add_flag("--json", json, "print the versioned JSON contract");
  req->callback([&globals] {
    auto lib = open_library(globals);
    auto c = resolve_model_dependency_requirements(*lib, id, platform, backend);
    if (json) {
      print_json(c);
    } else {
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
    // Scripts branch on the exit status: 0 resolved, 2 anything else.
    if (!c["ready"].get<bool>()) throw CLI::RuntimeError(2);
  });
}

}  // namespace

XERVO_CLI_COMMAND(42, setup_models_map);
XERVO_CLI_COMMAND(43, setup_models_requirements);

}  // namespace xervo::cli

#endif
