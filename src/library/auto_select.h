// The choice behind `model = "auto"`: per task, the best catalog entry that fits this machine (the
// memory budget, free memory, a GPU device's free memory, CPU flags), with a reason for every
// candidate, accepted or not. select_auto_model is pure and deterministic over MachineFacts;
// probe_machine reads the facts. Stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "library/auto_catalog.h"
#include "xervo/provider.h"

namespace xervo {
class ModelLibrary;
}

namespace xervo::library {

struct MachineFacts {
  uint64_t memory_budget = 0;          // the lifecycle budget's byte limit ([runtime] memory_budget)
  uint64_t memory_available = 0;       // memory the system could give now (MemAvailable)
  std::vector<ComputeDevice> devices;  // the local engines' devices; "cpu" ones are ignored
  std::set<std::string> cpu_features;  // /proc/cpuinfo flags
  bool cpu_features_known = false;     // false when the flags could not be read
};

// `memory_budget` 0 means no budget: physical memory stands for it.
MachineFacts probe_machine(uint64_t memory_budget, std::vector<ComputeDevice> devices);

struct AutoCandidate {
  AutoCatalogEntry entry;
  std::string library_id;  // the library's ready copy ("org/name"), empty when it must be pulled
  bool fits = false;
  bool chosen = false;
  std::string device;  // where it fits: "cpu" or a GPU device's name; empty when it does not
  std::string reason;  // why it was chosen, passed over or rejected
};

struct AutoSelection {
  ModelTask task = ModelTask::embed;
  std::vector<AutoCandidate> candidates;  // in order of preference
  const AutoCandidate* choice() const;    // null when nothing fits
  // Every candidate and its reason on one line, for errors and logs.
  std::string explain() const;
};

// The library's ready copy of `entry`: the file its Hub reference pulled, else one with its sha256;
// empty when there is none.
using PresenceCheck = std::function<std::string(const AutoCatalogEntry&)>;
PresenceCheck library_presence(ModelLibrary& library);

// Preference: higher tier first; within a tier an entry already in the library, then the larger,
// then catalog order. The first that fits is chosen. An entry fits when it needs no CPU flag this
// CPU lacks, its memory_bytes is within the budget, and within free memory or a GPU device's free
// memory.
AutoSelection select_auto_model(const AutoCatalog& catalog, ModelTask task, const MachineFacts& facts,
                                const PresenceCheck& present = {});

nlohmann::json to_json(const AutoSelection& selection);
// The facts as `xervo models recommend --json` prints them; CPU flags only those `catalog` asks for.
nlohmann::json to_json(const MachineFacts& facts, const AutoCatalog& catalog);

}  // namespace xervo::library
