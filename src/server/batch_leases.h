// Which process runs a batch when several share one batch store (replicas of a cluster): a batch
// runs where its lease is held. The runner acquires a lease before it loads a batch, renews it while
// the batch runs, and releases it when the batch is final; a holder that dies stops renewing, its
// lease expires and another replica's runner takes the batch over, resuming after the last recorded
// line. cluster/batch_leases.h holds them in Redis. Thread-safe.
#pragma once

#include <chrono>
#include <string>

namespace xervo::server {

class BatchLeases {
 public:
  virtual ~BatchLeases() = default;
  // Takes the lease of `batch_id` or renews this process's own; false when another process holds
  // it or the holder cannot be known now (the shared store unreachable, unless this process already
  // held it).
  virtual bool acquire(const std::string& batch_id) = 0;
  virtual void release(const std::string& batch_id) = 0;
  // Whether the shared store answers now (a false acquire() then means another process holds it).
  virtual bool reachable() const = 0;
  // How often the runner renews its leases and looks for batches whose lease expired.
  virtual std::chrono::milliseconds renew_interval() const = 0;
};

}  // namespace xervo::server
