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
  return std::shared_ptr<MemoryBudget>(new MemoryBudget(limits));
}

MemoryBudget::Charge::~Charge() { owner_->release(bytes_); }

uint64_t MemoryBudget::Charge::bytes() const {
  std::lock_guard lock(owner_->mu_);
  return bytes_;
}

void MemoryBudget::Charge::resize(uint64_t bytes) {
  {
    std::lock_guard lock(owner_->mu_);
    owner_->used_ = owner_->used_ - bytes_ + bytes;
    bytes_ = bytes;
    ++owner_->generation_;
  }
  owner_->cv_.notify_all();
}

bool MemoryBudget::fits(uint64_t bytes) const {
  if (limits_.max_loaded > 0 && slots_ + 1 > limits_.max_loaded) return false;
  return limits_.bytes == 0 || (bytes <= limits_.bytes && used_ <= limits_.bytes - bytes);
}

std::shared_ptr<MemoryBudget::Charge> MemoryBudget::try_take(uint64_t bytes) {
  std::lock_guard lock(mu_);
  if (!fits(bytes)) return nullptr;
  used_ += bytes;
  ++slots_;
  ++generation_;
  return std::shared_ptr<Charge>(new Charge(shared_from_this(), bytes));
}

bool MemoryBudget::could_fit(uint64_t bytes) const {
  std::lock_guard lock(mu_);
  return limits_.bytes == 0 || bytes <= limits_.bytes;
}

std::string MemoryBudget::shortfall(uint64_t bytes) const {
  std::lock_guard lock(mu_);
  if (limits_.max_loaded > 0 && slots_ + 1 > limits_.max_loaded)
    return fmt::format("max_loaded = {} models are loaded or loading", limits_.max_loaded);
  if (limits_.bytes > 0 && bytes > limits_.bytes)
    return fmt::format("it needs {}, more than the whole memory_budget of {}", format_bytes(bytes),
                       format_bytes(limits_.bytes));
  return fmt::format("it needs {}; {} of the memory_budget of {} is held", format_bytes(bytes),
                     format_bytes(used_), format_bytes(limits_.bytes));
}

void MemoryBudget::release(uint64_t bytes) {
  {
    std::lock_guard lock(mu_);
    used_ -= bytes;
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
  return Usage{limits_, used_, slots_, generation_};
}

void MemoryBudget::set_limits(Limits limits) {
  {
    std::lock_guard lock(mu_);
    limits_ = limits;
    ++generation_;
  }
  cv_.notify_all();
}

}  // namespace xervo
