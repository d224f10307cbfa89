// API keys revoked anywhere in the cluster: a replica whose keys file lost a key publishes its hash
// to the set PREFIX revoked_keys, and every replica refuses a key whose hash is in it. Lookups read a
// local copy of the set (refresh() replaces it, every second from the cluster's background thread),
// so authentication never waits on Redis; publishing queues the hash and flush() sends it, again off
// the request path. A hash never leaves the set by itself (a revoked key stays revoked; an operator
// removes it with SREM, and
// replicas forget it when they restart). Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cluster/redis_client.h"

namespace xervo::cluster {

class KeyRevocations {
 public:
  KeyRevocations(RedisClient& redis, std::string prefix)
      : redis_(redis), key_(std::move(prefix) + "revoked_keys") {}

  bool revoked(const std::string& sha256) const;
  // Refused here at once; sent to Redis by the next flush() that reaches it.
  void revoke(const std::string& sha256);
  // Sends queued hashes, then reads the whole set back. False when Redis did not answer.
  bool refresh();

 private:
  RedisClient& redis_;
  const std::string key_;
  mutable std::mutex mu_;
  std::shared_ptr<const std::set<std::string>> known_ =
      std::make_shared<std::set<std::string>>();  // GUARDED_BY(mu_)
  std::vector<std::string> queued_;               // GUARDED_BY(mu_)
};

}  // namespace xervo::cluster
