#include "library/auto_resolve.h"

#include <spdlog/spdlog.h>

#include "core/memory_budget.h"
#include "library/auto_catalog.h"
#include "library/auto_select.h"

namespace xervo::library {

Result<std::string> resolve_auto_model(ModelLibrary& library, std::string_view id,
                                       const nlohmann::json& library_settings,
                                       const std::filesystem::path& config_file,
                                       const AutoModelContext& context, std::stop_token stop) {
  const std::string_view task_name = id.substr(id.find(':') + 1);
  auto task = parse_model_task(task_name);
  if (!task)
    return Error(ErrorCode::invalid_input, "'" + std::string(id) +
                                               "': auto needs a task (auto:embed, auto:rerank, auto:generate "
                                               "or auto:transcribe)");
  auto catalog = find_auto_catalog({}, library_settings, config_file);
  if (!catalog) return catalog.error();
  auto facts = probe_machine(context.memory_budget,
                             context.devices ? context.devices() : std::vector<ComputeDevice>{});
  auto selection = select_auto_model(*catalog, *task, facts, library_presence(library));
  const AutoCandidate* choice = selection.choice();
  if (!choice) {
    if (selection.candidates.empty())
      return Error(ErrorCode::model_not_found, "auto: the catalog (" + catalog->source + ") has no " +
                                                   std::string(task_name) + " models; name a model instead");
    return Error(ErrorCode::insufficient_memory,
                 "auto: no " + std::string(task_name) + " model of the catalog (" + catalog->source +
                     ") fits this machine: " + selection.explain() + " (details: xervo models recommend)");
  }
  spdlog::info("auto: {} model {} ({})", task_name, choice->entry.model, choice->reason);
  if (!choice->library_id.empty()) return choice->library_id;
  int logged_step = -1;
  auto progress = [&](const PullProgress& p) {
    const int percent = p.bytes_total ? static_cast<int>(p.bytes_done * 100 / p.bytes_total) : 0;
    if (percent / 10 == logged_step) return;
    logged_step = percent / 10;
    spdlog::info("auto: pulling {}: {}% ({} of {})", p.file, percent, format_bytes(p.bytes_done),
                 format_bytes(p.bytes_total));
  };
  auto pulled = library.pull(choice->entry.model, progress, std::move(stop));
  if (!pulled)
    return Error(pulled.error().code(), "auto: pulling " + choice->entry.model + " for " +
                                            std::string(task_name) + ": " + pulled.error().message());
  return pulled->id;
}

}  // namespace xervo::library
