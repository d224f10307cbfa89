// The response cache's shared tier in Redis (core/cache_tier.h): one string per entry under
// PREFIX cache:DIGEST with a TTL, so an answer one replica computed is a hit on every other. Entries
// larger than max_entry_bytes stay local. An outage is a miss and a skipped write.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "cluster/redis_client.h"
#include "core/cache_tier.h"

namespace xervo::cluster {

class RedisCacheTier final : public SharedCacheTier {
 public:
  // Holds the client: the runtime's caches may outlive the Cluster that made the tier.
  RedisCacheTier(std::shared_ptr<RedisClient> redis, std::string prefix, std::chrono::seconds ttl,
                 uint64_t max_entry_bytes)
      : redis_(std::move(redis)), prefix_(std::move(prefix)), ttl_(ttl), max_entry_bytes_(max_entry_bytes) {}

  std::optional<std::string> get(const std::string& key) override;
  void put(const std::string& key, std::string_view value) override;
  void clear() override;

  uint64_t hits() const { return hits_.load(); }
  uint64_t misses() const { return misses_.load(); }
  uint64_t stores() const { return stores_.load(); }

 private:
  const std::shared_ptr<RedisClient> redis_;
  const std::string prefix_;
  const std::chrono::seconds ttl_;
  const uint64_t max_entry_bytes_;
  std::atomic<uint64_t> hits_{0}, misses_{0}, stores_{0};
};

}  // namespace xervo::cluster
