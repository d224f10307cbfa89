// Batch leases in Redis (server/batch_leases.h): PREFIX batch_lease:ID holds the replica id of the
// runner of that batch, with an expiry of `ttl`; renewed every ttl/3. Taking and renewing are one
// Lua script (set when absent or already ours), releasing another (delete only when ours). While
// Redis is unreachable a replica keeps running the batches it held and takes no new one but those it
// accepted itself (nobody else can have them yet).
#pragma once

#include <chrono>
#include <mutex>
#include <set>
#include <string>

#include "cluster/redis_client.h"
#include "server/batch_leases.h"

namespace xervo::cluster {

class RedisBatchLeases final : public server::BatchLeases {
 public:
  RedisBatchLeases(RedisClient& redis, std::string prefix, std::string replica_id, std::chrono::seconds ttl)
      : redis_(redis), prefix_(std::move(prefix)), replica_(std::move(replica_id)), ttl_(ttl) {}

  bool acquire(const std::string& batch_id) override;
  void release(const std::string& batch_id) override;
  bool reachable() const override { return redis_.up(); }
  std::chrono::milliseconds renew_interval() const override {
    return std::max(std::chrono::milliseconds(200),
                    std::chrono::duration_cast<std::chrono::milliseconds>(ttl_) / 3);
  }

 private:
  RedisClient& redis_;
  const std::string prefix_;
  const std::string replica_;
  const std::chrono::seconds ttl_;
  std::mutex mu_;
  std::set<std::string> held_;  // GUARDED_BY(mu_): leases this process holds
};

}  // namespace xervo::cluster
