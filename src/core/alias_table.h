// AliasTable: the aliases of a runtime (from xervo.toml, then swaps, rollbacks and reloads), each
// with a version that changes whenever it is re-pointed and a short history of its targets. Reads
// dominate (every request resolves an alias), so it sits behind a shared_mutex; with_shared() lets a
// caller resolve and take a loaded model atomically with respect to a swap. Thread-safe.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "xervo/runtime.h"

namespace xervo {

class AliasTable {
 public:
  struct Slot {
    ModelSpec spec;
    std::deque<AliasVersion> history;  // oldest first; back() is the current target
    uint64_t version = 0;              // bumped on every re-point
  };
  using Map = std::map<std::string, Slot>;
  static constexpr size_t kMaxHistory = 10;

  // Adds (or replaces) an alias as a new first version.
  void insert(ModelSpec spec, const std::string& by, const std::string& action);
  bool erase(const std::string& alias);
  // Points an existing alias at spec's target, appending to its history; false when there is none.
  bool repoint(const ModelSpec& spec, const std::string& by, const std::string& action);
  // Changes an alias's settings in place (same target, no new version); false when there is none.
  template <typename F>
  bool update(const std::string& alias, F&& change) {
    std::unique_lock lock(mu_);
    auto it = map_.find(alias);
    if (it == map_.end()) return false;
    change(it->second.spec);
    if (!it->second.history.empty()) it->second.history.back().spec = it->second.spec;
    return true;
  }
  // Runs f(const Map&) under the shared lock: no re-point can happen while it runs.
  template <typename F>
  auto with_shared(F&& f) const {
    std::shared_lock lock(mu_);
    return f(static_cast<const Map&>(map_));
  }

  std::optional<Slot> get(const std::string& alias) const;
  std::optional<uint64_t> version(const std::string& alias) const;
  std::vector<ModelSpec> specs() const;
  std::vector<AliasInfo> infos() const;
  // Whether any alias points at the model with this key string.
  bool references(const std::string& key) const;
  // The aliases pointing at it.
  std::vector<std::string> aliases_of(const std::string& key) const;

 private:
  mutable std::shared_mutex mu_;
  Map map_;  // GUARDED_BY(mu_)
};

}  // namespace xervo
