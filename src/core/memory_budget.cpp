#include "core/memory_budget.h"

#include <fmt/format.h>

namespace xervo {

std::string format_bytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  int unit = -1;
  while (v >= 1024 && unit < 3) {
    v /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", v, kUnits[unit]);
}

std::shared_ptr<MemoryBudget> MemoryBudget::create(Limits limits) {
  return std::shared_ptr<MemoryBudget>(new MemoryBudget(std::move(limits)));
}

bool MemoryBudget::Claim::frees_nothing() const {
  if (host > 0) return false;
  for (const auto& [device, bytes] : devices)
    if (bytes > 0) return false;
  return true;
}

uint64_t MemoryBudget::Limits::device_limit(const std::string& device) const {
  if (auto it = devices.find(device); it != devices.end()) return it->second;
  if (auto it = devices.find("*"); it != devices.end()) return it->second;
  return 0;
}

MemoryBudget::Charge::~Charge() { owner_->release(claim_); }

uint64_t MemoryBudget::Charge::bytes() const {
  std::lock_guard lock(owner_->mu_);
  return claim_.host;
}

MemoryBudget::Claim MemoryBudget::Charge::claim() const {
  std::lock_guard lock(owner_->mu_);
  return claim_;
}

void MemoryBudget::Charge::resize(const Claim& claim) {
  {
    std::lock_guard lock(owner_->mu_);
    owner_->remove(claim_);
    owner_->add(claim);
    claim_ = claim;
    ++owner_->generation_;
  }
  owner_->cv_.notify_all();
}

namespace {
// `need` more bytes fit below `limit` (0: none) beside `used`.
bool below(uint64_t limit, uint64_t used, uint64_t need) {
  return limit == 0 || (need <= limit && used <= limit - need);
}
uint64_t at(const std::map<std::string, uint64_t>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}
}  // namespace

bool MemoryBudget::fits(const Claim& claim) const {
  if (limits_.max_loaded > 0 && slots_ + 1 > limits_.max_loaded) return false;
  if (!below(limits_.bytes, used_, claim.host)) return false;
  for (const auto& [device, bytes] : claim.devices)
    if (!below(limits_.device_limit(device), at(device_used_, device), bytes)) return false;
  return true;
}

void MemoryBudget::add(const Claim& claim) {
  used_ += claim.host;
  for (const auto& [device, bytes] : claim.devices)
    if (bytes > 0) device_used_[device] += bytes;
}

void MemoryBudget::remove(const Claim& claim) {
  used_ -= claim.host;
  for (const auto& [device, bytes] : claim.devices) {
    if (bytes == 0) continue;
    auto it = device_used_.find(device);
    if ((it->second -= bytes) == 0) device_used_.erase(it);
  }
}

std::shared_ptr<MemoryBudget::Charge> MemoryBudget::try_take(const Claim& claim) {
  std::lock_guard lock(mu_);
  if (!fits(claim)) return nullptr;
  add(claim);
  ++slots_;
  ++generation_;
  return std::shared_ptr<Charge>(new Charge(shared_from_this(), claim));
}

bool MemoryBudget::could_fit(const Claim& claim) const {
  std::lock_guard lock(mu_);
  if (!below(limits_.bytes, 0, claim.host)) return false;
  for (const auto& [device, bytes] : claim.devices)
    if (!below(limits_.device_limit(device), 0, bytes)) return false;
  return true;
}

bool MemoryBudget::fits_beside(const Claim& held, const Claim& claim) const {
  std::lock_guard lock(mu_);
  if (!below(limits_.bytes, held.host, claim.host)) return false;
  for (const auto& [device, bytes] : claim.devices)
    if (!below(limits_.device_limit(device), at(held.devices, device), bytes)) return false;
  return true;
}

bool MemoryBudget::relieves(const Claim& held, const Claim& claim) const {
  std::lock_guard lock(mu_);
  if (held.host > 0 && !below(limits_.bytes, used_, claim.host)) return true;
  for (const auto& [device, bytes] : claim.devices)
    if (at(held.devices, device) > 0 && !below(limits_.device_limit(device), at(device_used_, device), bytes))
      return true;
  return false;
}

std::string MemoryBudget::shortfall(const Claim& claim) const {
  std::lock_guard lock(mu_);
  if (limits_.max_loaded > 0 && slots_ + 1 > limits_.max_loaded)
    return fmt::format("max_loaded = {} models are loaded or loading", limits_.max_loaded);
  for (const auto& [device, bytes] : claim.devices) {
    const uint64_t limit = limits_.device_limit(device);
    const uint64_t used = at(device_used_, device);
    if (below(limit, used, bytes)) continue;
    if (bytes > limit)
      return fmt::format("it needs {} on {}, more than its whole device_memory_budget of {}", format_bytes(bytes),
                         device, format_bytes(limit));
    return fmt::format("it needs {} on {}; {} of its device_memory_budget of {} is held", format_bytes(bytes),
                       device, format_bytes(used), format_bytes(limit));
  }
  if (limits_.bytes > 0 && claim.host > limits_.bytes)
    return fmt::format("it needs {}, more than the whole memory_budget of {}", format_bytes(claim.host),
                       format_bytes(limits_.bytes));
  return fmt::format("it needs {}; {} of the memory_budget of {} is held", format_bytes(claim.host),
                     format_bytes(used_), format_bytes(limits_.bytes));
}

void MemoryBudget::release(const Claim& claim) {
  {
    std::lock_guard lock(mu_);
    remove(claim);
    --slots_;
    ++generation_;
  }
  cv_.notify_all();
}

void MemoryBudget::notify() {
  {
    std::lock_guard lock(mu_);
    ++generation_;
  }
  cv_.notify_all();
}

bool MemoryBudget::wait_for_change(uint64_t generation, std::chrono::steady_clock::time_point deadline,
                                   std::stop_token cancel) {
  std::unique_lock lock(mu_);
  return cv_.wait_until(lock, cancel, deadline, [&] { return generation_ != generation; });
}

MemoryBudget::Usage MemoryBudget::usage() const {
  std::lock_guard lock(mu_);
  return Usage{limits_, used_, device_used_, slots_, generation_};
}

void MemoryBudget::set_limits(Limits limits) {
  {
    std::lock_guard lock(mu_);
    limits_ = std::move(limits);
    ++generation_;
  }
  cv_.notify_all();
}

}  // namespace xervo
