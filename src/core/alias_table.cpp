#include "core/alias_table.h"

namespace xervo {

void AliasTable::insert(ModelSpec spec, const std::string& by, const std::string& action) {
  std::unique_lock lock(mu_);
  Slot& slot = map_[spec.alias];
  slot.history.clear();
  slot.history.push_back(AliasVersion{spec, std::chrono::system_clock::now(), by, action});
  slot.spec = std::move(spec);
  ++slot.version;
}

bool AliasTable::erase(const std::string& alias) {
  std::unique_lock lock(mu_);
  return map_.erase(alias) > 0;
}

bool AliasTable::repoint(const ModelSpec& spec, const std::string& by, const std::string& action) {
  std::unique_lock lock(mu_);
  auto it = map_.find(spec.alias);
  if (it == map_.end()) return false;
  Slot& slot = it->second;
  slot.spec = spec;
  slot.history.push_back(AliasVersion{spec, std::chrono::system_clock::now(), by, action});
  while (slot.history.size() > kMaxHistory) slot.history.pop_front();
  ++slot.version;
  return true;
}

std::optional<AliasTable::Slot> AliasTable::get(const std::string& alias) const {
  std::shared_lock lock(mu_);
  auto it = map_.find(alias);
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint64_t> AliasTable::version(const std::string& alias) const {
  std::shared_lock lock(mu_);
  auto it = map_.find(alias);
  if (it == map_.end()) return std::nullopt;
  return it->second.version;
}

std::vector<ModelSpec> AliasTable::specs() const {
  std::shared_lock lock(mu_);
  std::vector<ModelSpec> out;
  out.reserve(map_.size());
  for (const auto& [alias, slot] : map_) out.push_back(slot.spec);
  return out;
}

std::vector<AliasInfo> AliasTable::infos() const {
  std::shared_lock lock(mu_);
  std::vector<AliasInfo> out;
  out.reserve(map_.size());
  for (const auto& [alias, slot] : map_)
    out.push_back(AliasInfo{slot.spec, std::vector<AliasVersion>(slot.history.begin(), slot.history.end())});
  return out;
}

bool AliasTable::references(const std::string& key) const {
  std::shared_lock lock(mu_);
  for (const auto& [alias, slot] : map_)
    if (make_model_key(slot.spec).to_string() == key) return true;
  return false;
}

std::vector<std::string> AliasTable::aliases_of(const std::string& key) const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& [alias, slot] : map_)
    if (make_model_key(slot.spec).to_string() == key) out.push_back(alias);
  return out;
}

}  // namespace xervo
