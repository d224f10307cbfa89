// Per-client rate limits shared by every replica: the same token buckets as server/rate_limiter.h
// (requests and tokens per minute, one minute's allowance, continuous refill), held in one Redis hash
// per client and updated by a Lua script, so a check-and-take is atomic across replicas and uses
// Redis' clock (replicas' clocks may differ). When Redis does not answer the caller gets nullopt and
// decides with its local bucket.
#pragma once

#include <optional>
#include <string>

#include "cluster/redis_client.h"
#include "server/rate_limiter.h"

namespace xervo::cluster {

class SharedRateLimits final : public server::RateLimiter::Shared {
 public:
  SharedRateLimits(RedisClient& redis, std::string prefix) : redis_(redis), prefix_(std::move(prefix)) {}

  // 0 when admitted (one request taken), else seconds until a retry can succeed; nullopt: no answer.
  std::optional<int> admit(const std::string& client, const server::RateLimit& limit) override;
  // Charges tokens a finished request used; false when Redis did not take them.
  bool charge_tokens(const std::string& client, const server::RateLimit& limit, int64_t tokens) override;

 private:
  std::optional<RedisValue> eval(const std::string& client, const server::RateLimit& limit, int64_t tokens);

  RedisClient& redis_;
  const std::string prefix_;
};

}  // namespace xervo::cluster
