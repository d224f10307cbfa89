// MemoryBudget: the host bytes, each GPU device's bytes and the model slots that loaded (and
// loading) models hold, against the limits of [runtime]. A model's claim is a Charge, held by the loaded model itself, so memory that handles
// still hold after an unload keeps counting until it is really freed. The registry takes a charge
// before each load (evicting idle models until one fits) and waits here for memory to free. Taking
// a charge is atomic: two loads that each fit alone but not together never both get one.
// Thread-safe; shared (shared_ptr) by the registry and every charge.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>

#include "xervo/provider.h"

namespace xervo {

class MemoryBudget : public std::enable_shared_from_this<MemoryBudget> {
 public:
  // What one model holds: host memory, and each GPU device's own memory by ggml device name.
  struct Claim {
    uint64_t host = 0;
    std::map<std::string, uint64_t> devices;
    static Claim of(const MemoryEstimate& m) { return {m.host(), m.devices}; }
    bool frees_nothing() const;  // no host byte and no device byte
  };

  struct Limits {
    uint64_t bytes = 0;      // host bytes; 0: no byte limit
    int64_t max_loaded = 0;  // 0: no count limit
    // Per device by name, "*" for every device not named; absent or 0: no limit for that device.
    std::map<std::string, uint64_t> devices;
    uint64_t device_limit(const std::string& device) const;
  };

  // One model's claim, returned on destruction.
  class Charge {
   public:
    ~Charge();
    Charge(const Charge&) = delete;
    Charge& operator=(const Charge&) = delete;
    uint64_t bytes() const;  // host bytes
    Claim claim() const;
    // After the load: what the model really holds (may exceed what fit; the next load evicts more).
    void resize(const Claim& claim);

   private:
    friend class MemoryBudget;
    Charge(std::shared_ptr<MemoryBudget> owner, Claim claim) : owner_(std::move(owner)), claim_(std::move(claim)) {}
    std::shared_ptr<MemoryBudget> owner_;
    Claim claim_;  // GUARDED_BY(owner_->mu_)
  };

  struct Usage {
    Limits limits;
    uint64_t used = 0;                              // host bytes
    std::map<std::string, uint64_t> device_used;  // devices with a charge now
    int64_t slots = 0;                              // charges outstanding
    uint64_t generation = 0;
  };

  static std::shared_ptr<MemoryBudget> create(Limits limits);

  // A charge for `claim` when it fits beside what is held now; nullptr otherwise.
  std::shared_ptr<Charge> try_take(const Claim& claim);
  // Whether `claim` could ever fit (below every limit with nothing else held).
  bool could_fit(const Claim& claim) const;
  // Why `claim` does not fit now: which limit, in words.
  std::string shortfall(const Claim& claim) const;
  // Whether freeing `held` would help `claim` fit: it holds memory on the host or a device where
  // `claim` is short now.
  bool relieves(const Claim& held, const Claim& claim) const;
  // Whether `claim` fits in the limits beside `held` (pinned models, say) and nothing else.
  bool fits_beside(const Claim& held, const Claim& claim) const;

  // Something changed that may let a waiting load go on (a charge freed, a model became idle).
  void notify();
  // Blocks until notify() after `generation` (from usage()), the deadline, or a stop request. False
  // when the deadline passed or stop was requested first.
  bool wait_for_change(uint64_t generation, std::chrono::steady_clock::time_point deadline,
                       std::stop_token cancel);

  Usage usage() const;
  void set_limits(Limits limits);

 private:
  explicit MemoryBudget(Limits limits) : limits_(std::move(limits)) {}
  bool fits(const Claim& claim) const;  // REQUIRES: mu_ held
  void add(const Claim& claim);         // REQUIRES: mu_ held
  void remove(const Claim& claim);      // REQUIRES: mu_ held
  void release(const Claim& claim);

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  Limits limits_;                                // GUARDED_BY(mu_)
  uint64_t used_ = 0;                            // GUARDED_BY(mu_)
  std::map<std::string, uint64_t> device_used_;  // GUARDED_BY(mu_)
  int64_t slots_ = 0;                            // GUARDED_BY(mu_)
  uint64_t generation_ = 0;                      // GUARDED_BY(mu_)
};

// "12.0 GiB", "512.0 MiB", "800 B": sizes in messages.
std::string format_bytes(uint64_t bytes);

}  // namespace xervo
