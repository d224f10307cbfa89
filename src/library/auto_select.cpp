#include "library/auto_select.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/memory_budget.h"
#include "xervo/config.h"
#include "xervo/library.h"

namespace xervo::library {
namespace {

// MemAvailable of /proc/meminfo; the free pages sysconf reports where that file is missing.
uint64_t available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kib * 1024;
  }
  long pages = ::sysconf(_SC_AVPHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

// The "flags" (x86) or "Features" (Arm) line of the first processor.
bool read_cpu_features(std::set<std::string>& out) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    key.erase(key.find_last_not_of(" \t") + 1);
    if (key != "flags" && key != "Features") continue;
    std::istringstream words(line.substr(colon + 1));
    std::string w;
    while (words >> w) out.insert(w);
    return true;
  }
  return false;
}

bool is_gpu(const ComputeDevice& d) { return d.type != "cpu"; }

// Why `c` fits or not; sets c.fits and c.device.
void judge(AutoCandidate& c, const MachineFacts& facts) {
  const uint64_t need = c.entry.memory_bytes;
  const std::string needs = "needs " + format_bytes(need);
  for (const auto& f : c.entry.cpu_features) {
    if (!facts.cpu_features_known) {
      c.reason = "needs CPU feature " + f + ", and this CPU's features could not be read";
      return;
    }
    if (!facts.cpu_features.count(f)) {
      c.reason = "needs CPU feature " + f + ", which this CPU lacks";
      return;
    }
  }
  if (need > facts.memory_budget) {
    c.reason = needs + ", over the memory budget of " + format_bytes(facts.memory_budget);
    return;
  }
  if (need <= facts.memory_available) {
    c.fits = true;
    c.device = "cpu";
    c.reason = needs + ": fits the budget (" + format_bytes(facts.memory_budget) + ") and free memory (" +
               format_bytes(facts.memory_available) + ")";
    return;
  }
  const ComputeDevice* best = nullptr;  // the GPU device with the most free memory
  for (const auto& d : facts.devices)
    if (is_gpu(d) && (!best || d.memory_free > best->memory_free)) best = &d;
  if (best && need <= best->memory_free) {
    c.fits = true;
    c.device = best->name;
    c.reason = needs + ": more than free memory (" + format_bytes(facts.memory_available) +
               "), but fits GPU device " + best->name + " (" + format_bytes(best->memory_free) + " free)";
    return;
  }
  c.reason = needs + ", more than free memory (" + format_bytes(facts.memory_available) + ")" +
             (best ? " and GPU device " + best->name + "'s " + format_bytes(best->memory_free) + " free"
                   : std::string(" and no GPU device"));
}

}  // namespace

MachineFacts probe_machine(uint64_t memory_budget, std::vector<ComputeDevice> devices) {
  MachineFacts f;
  f.memory_budget = memory_budget ? memory_budget : physical_memory_bytes();  // 0: no budget
  f.memory_available = available_memory();
  f.devices = std::move(devices);
  f.cpu_features_known = read_cpu_features(f.cpu_features);
  return f;
}

const AutoCandidate* AutoSelection::choice() const {
  for (const auto& c : candidates)
    if (c.chosen) return &c;
  return nullptr;
}

std::string AutoSelection::explain() const {
  if (candidates.empty()) return "the catalog has no " + std::string(to_string(task)) + " models";
  std::string out;
  for (const auto& c : candidates)
    out += (out.empty() ? "" : "; ") + c.entry.model + " (tier " + std::to_string(c.entry.tier) +
           "): " + c.reason;
  return out;
}

PresenceCheck library_presence(ModelLibrary& library) {
  return [&library](const AutoCatalogEntry& entry) -> std::string {
    auto pulled = library.find(entry.model);
    if (pulled && pulled->state == LibraryModelState::ready) return pulled->id;
    if (entry.sha256.empty()) return {};
    LibraryQuery q;
    q.state = LibraryModelState::ready;
    q.min_size = entry.file_bytes;  // an imported copy has exactly the catalog's size when it has its hash
    q.max_size = entry.file_bytes;
    q.limit = 1000;
    auto same_size = library.search(q);
    if (!same_size) return {};
    for (const auto& m : *same_size)
      if (m.sha256 == entry.sha256) return m.id;
    return {};
  };
}

AutoSelection select_auto_model(const AutoCatalog& catalog, ModelTask task, const MachineFacts& facts,
                                const PresenceCheck& present) {
  AutoSelection s;
  s.task = task;
  const auto& entries = catalog.entries(task);
  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::vector<std::string> copies(entries.size());
  if (present)
    for (size_t i = 0; i < entries.size(); ++i) copies[i] = present(entries[i]);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const auto &x = entries[a], &y = entries[b];
    if (x.tier != y.tier) return x.tier > y.tier;
    if (copies[a].empty() != copies[b].empty()) return !copies[a].empty();
    return x.memory_bytes > y.memory_bytes;
  });
  std::optional<AutoCandidate> chosen;  // a copy: candidates grows below
  for (size_t i : order) {
    AutoCandidate c;
    c.entry = entries[i];
    c.library_id = copies[i];
    judge(c, facts);
    if (c.fits && !chosen) {
      c.chosen = true;
      c.reason = "chosen: " + c.reason +
                 (c.library_id.empty() ? "; pulled on first use" : "; in the library as " + c.library_id);
      chosen = c;
    } else if (c.fits) {
      std::string why;
      if (chosen->entry.tier != c.entry.tier)
        why = "tier " + std::to_string(chosen->entry.tier);
      else if (chosen->library_id.empty() != c.library_id.empty())
        why = "same tier, in the library";
      else
        why = "same tier, larger or listed first";
      c.reason = "fits, but " + chosen->entry.model + " ranks higher (" + why + ")";
    }
    s.candidates.push_back(std::move(c));
  }
  return s;
}

nlohmann::json to_json(const AutoSelection& selection) {
  nlohmann::json candidates = nlohmann::json::array();
  for (const auto& c : selection.candidates) {
    nlohmann::json j = to_json(c.entry);
    j["in_library"] = c.library_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.library_id);
    j["fits"] = c.fits;
    j["chosen"] = c.chosen;
    j["device"] = c.device.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.device);
    j["reason"] = c.reason;
    candidates.push_back(std::move(j));
  }
  const AutoCandidate* choice = selection.choice();
  return {{"task", std::string(to_string(selection.task))},
          {"choice", choice ? nlohmann::json(choice->entry.model) : nlohmann::json(nullptr)},
          {"in_library", choice && !choice->library_id.empty() ? nlohmann::json(choice->library_id)
                                                               : nlohmann::json(nullptr)},
          {"reason", choice ? choice->reason : "nothing fits: " + selection.explain()},
          {"candidates", std::move(candidates)}};
}

nlohmann::json to_json(const MachineFacts& facts, const AutoCatalog& catalog) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : facts.devices)
    if (is_gpu(d))
      devices.push_back({{"name", d.name},
                         {"backend", d.backend},
                         {"type", d.type},
                         {"memory_total", d.memory_total},
                         {"memory_free", d.memory_free}});
  nlohmann::json flags = nlohmann::json::object();
  for (const auto& [task, entries] : catalog.tasks)
    for (const auto& e : entries)
      for (const auto& f : e.cpu_features)
        flags[f] = facts.cpu_features_known ? nlohmann::json(facts.cpu_features.count(f) > 0)
                                            : nlohmann::json(nullptr);
  return {{"memory_budget", facts.memory_budget},
          {"memory_available", facts.memory_available},
          {"gpu_devices", std::move(devices)},
          {"cpu_features", std::move(flags)}};
}

}  // namespace xervo::library
