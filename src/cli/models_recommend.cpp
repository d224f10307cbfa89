// `xervo models recommend [--task T] [--catalog FILE] [--json]`: what `model = "auto"` would pick
// for each task on this machine, and why every other candidate was passed over or rejected. Reads
// the library (for copies already there) and the devices; downloads nothing.
#if XERVO_HAVE_LIBRARY

#include <algorithm>
#include <cstdio>

#include "cli/models_common.h"
#include "core/memory_budget.h"
#include "library/auto_catalog.h"
#include "library/auto_select.h"

namespace xervo::cli {
namespace {

struct RecommendOptions {
  std::string task;
  std::string catalog;
  bool json = false;
};

// The local engines' devices, as `xervo status` lists them (no model is loaded).
std::vector<ComputeDevice> machine_devices(Config config) {
  for (auto& spec : config.models) spec.warmup = WarmupPolicy::lazy;
  auto runtime = build_runtime(config);
  std::vector<ComputeDevice> out;
  for (const auto& p : runtime->providers())
    for (auto& d : p->devices())
      if (std::none_of(out.begin(), out.end(), [&](const ComputeDevice& o) { return o.name == d.name; }))
        out.push_back(std::move(d));
  return out;
}

void print_text(const library::AutoCatalog& catalog, const library::MachineFacts& facts,
                const std::vector<library::AutoSelection>& selections) {
  std::string gpus;
  for (const auto& d : facts.devices)
    if (d.type != "cpu")
      gpus += (gpus.empty() ? "" : ", ") + d.name + " (" + format_bytes(d.memory_free) + " free)";
  std::printf("catalog: %s%s (version %d)\n", catalog.source.c_str(),
              catalog.name.empty() ? "" : (", " + catalog.name).c_str(), catalog.version);
  std::printf("machine: memory budget %s, free memory %s, GPU devices: %s\n",
              format_bytes(facts.memory_budget).c_str(), format_bytes(facts.memory_available).c_str(),
              gpus.empty() ? "none" : gpus.c_str());
  for (const auto& s : selections) {
    const auto* choice = s.choice();
    std::printf("\n%s: %s\n", std::string(to_string(s.task)).c_str(),
                choice ? (choice->entry.model + (choice->library_id.empty()
                                                     ? " (pulled on first use)"
                                                     : " (in the library as " + choice->library_id + ")"))
                             .c_str()
                : s.candidates.empty() ? "no candidates in the catalog"
                                       : "nothing fits");
    if (s.candidates.empty()) continue;
    std::vector<std::vector<std::string>> rows = {
        {"", "MODEL", "TIER", "FILE", "MEMORY", "LICENSE", "REASON"}};
    for (const auto& c : s.candidates)
      rows.push_back({c.chosen ? "chosen"
                      : c.fits ? "fits"
                               : "rejected",
                      c.entry.model, std::to_string(c.entry.tier),
                      (c.entry.sizes_approximate ? "~" : "") + human_size(c.entry.file_bytes),
                      (c.entry.sizes_approximate ? "~" : "") + human_size(c.entry.memory_bytes),
                      c.entry.license, c.reason});
    print_table(rows);
  }
}

void setup_models_recommend(CLI::App& app, GlobalOptions& globals) {
  auto* models = app.get_subcommand("models");
  auto o = std::make_shared<RecommendOptions>();
  auto* cmd = models->add_subcommand("recommend", "Show which model \"auto\" picks for each task, and why");
  cmd->add_option("--task", o->task, "embed, rerank, generate or transcribe (default: all)")
      ->check(CLI::IsMember({"embed", "rerank", "generate", "transcribe"}));
  cmd->add_option("--catalog", o->catalog,
                  "catalog file (default: [library] auto_catalog, $XERVO_AUTO_CATALOG, the built-in one)");
  cmd->add_flag("--json", o->json, "print the choices as JSON");
  cmd->callback([&globals, o] {
    Config config = load_config(globals);
    auto catalog = library::find_auto_catalog(o->catalog, config.library, config.path).value_or_throw();
    auto lib = open_library(config);
    const uint64_t budget = parse_runtime_limits(config).value_or_throw().memory_budget;
    auto facts = library::probe_machine(budget, machine_devices(config));
    std::vector<ModelTask> tasks = {ModelTask::embed, ModelTask::rerank, ModelTask::generate,
                                    ModelTask::transcribe};
    if (!o->task.empty()) tasks = {*parse_model_task(o->task)};
    std::vector<library::AutoSelection> selections;
    for (auto task : tasks)
      selections.push_back(library::select_auto_model(catalog, task, facts, library::library_presence(*lib)));
    if (!o->json) return print_text(catalog, facts, selections);
    nlohmann::json out = {
        {"catalog", {{"source", catalog.source}, {"name", catalog.name}, {"version", catalog.version}}},
        {"machine", library::to_json(facts, catalog)},
        {"tasks", nlohmann::json::array()}};
    for (const auto& s : selections) out["tasks"].push_back(library::to_json(s));
    print_json(out);
  });
}

}  // namespace

XERVO_CLI_COMMAND(46, setup_models_recommend);

}  // namespace xervo::cli

#endif
