// Cluster: what a replica shares with the others when [cluster] redis_url is set
// (docs/server/scale-out.md): rate-limit buckets, the response cache's shared tier, Batch API leases
// and revoked API keys, all in one Redis. Off by default (no [cluster] table: no Cluster). Redis
// being down never stops a replica: each piece falls back to local state and /ready and /metrics
// say so. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "cluster/batch_leases.h"
#include "cluster/key_revocations.h"
#include "cluster/redis_client.h"
#include "cluster/shared_cache_tier.h"
#include "cluster/shared_rate_limits.h"
#include "xervo/error.h"

namespace xervo::cluster {

struct ClusterOptions {
  std::string redis_url;                   // redis://[:PASSWORD@]HOST[:PORT][/DB] | unix:///PATH
  std::string key_prefix = "xervo:";       // every key this cluster writes starts with it
  std::chrono::milliseconds timeout{250};  // connect and per-command bound
  std::string replica_id;                  // empty: HOSTNAME-PID
  std::chrono::seconds batch_lease{30};    // a dead replica's batches move after this
  bool shared_limits = true;
  bool shared_cache = true;
  std::chrono::seconds shared_cache_ttl{std::chrono::hours(24)};
  uint64_t shared_cache_max_entry_bytes = 1u << 20;
};

// [cluster] of the config; nullopt when it has no redis_url (and XERVO_REDIS_URL is unset). Strict:
// unknown keys and wrong types are config_invalid naming the key.
Result<std::optional<ClusterOptions>> parse_cluster_options(const nlohmann::json& section);

class Cluster {
 public:
  // Does not need Redis to be up: it connects in the background until it answers.
  static Result<std::shared_ptr<Cluster>> create(ClusterOptions options);
  ~Cluster();

  const ClusterOptions& options() const { return options_; }
  const std::string& replica_id() const { return replica_id_; }
  bool redis_up() const { return redis_->up(); }

  std::shared_ptr<SharedRateLimits> rate_limits() const { return limits_; }  // null when off
  std::shared_ptr<RedisCacheTier> cache_tier() const { return cache_; }      // null when off
  std::shared_ptr<RedisBatchLeases> batch_leases() const { return leases_; }
  KeyRevocations& revocations() { return *revocations_; }

  // /ready's "cluster" member: {replica, redis: "up"|"unreachable", state: "shared"|"local"}.
  nlohmann::json status_json() const;
  // Prometheus series: xervo_cluster_redis_up, xervo_cluster_redis_errors_total and the shared
  // cache tier's hits, misses and stores.
  std::string metrics() const;

 private:
  explicit Cluster(ClusterOptions options) : options_(std::move(options)) {}
  void refresh_loop(std::stop_token stop);

  const ClusterOptions options_;
  std::string replica_id_;
  std::shared_ptr<RedisClient> redis_;
  std::shared_ptr<SharedRateLimits> limits_;
  std::shared_ptr<RedisCacheTier> cache_;
  std::shared_ptr<RedisBatchLeases> leases_;
  std::unique_ptr<KeyRevocations> revocations_;
  std::jthread refresher_;  // last: stops first
};

}  // namespace xervo::cluster
