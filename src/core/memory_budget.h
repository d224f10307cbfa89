// MemoryBudget: the bytes and model slots that loaded (and loading) models hold, against the limits
// of [runtime]. A model's claim is a Charge, held by the loaded model itself, so memory that handles
// still hold after an unload keeps counting until it is really freed. The registry takes a charge
// before each load (evicting idle models until one fits) and waits here for memory to free. Taking
// a charge is atomic: two loads that each fit alone but not together never both get one.
// Thread-safe; shared (shared_ptr) by the registry and every charge.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>

namespace xervo {

class MemoryBudget : public std::enable_shared_from_this<MemoryBudget> {
 public:
  struct Limits {
    uint64_t bytes = 0;      // 0: no byte limit
    int64_t max_loaded = 0;  // 0: no count limit
  };

  // One model's claim: `bytes` and one slot, returned on destruction.
  class Charge {
   public:
    ~Charge();
    Charge(const Charge&) = delete;
    Charge& operator=(const Charge&) = delete;
    uint64_t bytes() const;
    // After the load: what the model really holds (may exceed what fit; the next load evicts more).
    void resize(uint64_t bytes);

   private:
    friend class MemoryBudget;
    Charge(std::shared_ptr<MemoryBudget> owner, uint64_t bytes) : owner_(std::move(owner)), bytes_(bytes) {}
    std::shared_ptr<MemoryBudget> owner_;
    uint64_t bytes_;  // GUARDED_BY(owner_->mu_)
  };

  struct Usage {
    Limits limits;
    uint64_t used = 0;
    int64_t slots = 0;  // charges outstanding
    uint64_t generation = 0;
  };

  static std::shared_ptr<MemoryBudget> create(Limits limits);

  // A charge for `bytes` when it fits beside what is held now; nullptr otherwise.
  std::shared_ptr<Charge> try_take(uint64_t bytes);
  // Whether `bytes` could ever fit (below the byte limit with nothing else held).
  bool could_fit(uint64_t bytes) const;
  // Why `bytes` does not fit now: which limit, in words.
  std::string shortfall(uint64_t bytes) const;

  // Something changed that may let a waiting load go on (a charge freed, a model became idle).
  void notify();
  // Blocks until notify() after `generation` (from usage()), the deadline, or a stop request. False
  // when the deadline passed or stop was requested first.
  bool wait_for_change(uint64_t generation, std::chrono::steady_clock::time_point deadline,
                       std::stop_token cancel);

  Usage usage() const;
  void set_limits(Limits limits);

 private:
  explicit MemoryBudget(Limits limits) : limits_(limits) {}
  bool fits(uint64_t bytes) const;  // REQUIRES: mu_ held
  void release(uint64_t bytes);

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  Limits limits_;            // GUARDED_BY(mu_)
  uint64_t used_ = 0;        // GUARDED_BY(mu_)
  int64_t slots_ = 0;        // GUARDED_BY(mu_)
  uint64_t generation_ = 0;  // GUARDED_BY(mu_)
};

// "12.0 GiB", "512.0 MiB", "800 B": sizes in messages.
std::string format_bytes(uint64_t bytes);

}  // namespace xervo
