#include "server/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace xervo::server {

RateLimiter::Bucket& RateLimiter::bucket(const std::string& client, const RateLimit& limit,
                                         Clock::time_point now) {
  auto [it, fresh] = buckets_.try_emplace(client);
  Bucket& b = it->second;
  if (fresh) {
    b.requests = static_cast<double>(limit.requests_per_minute);
    b.tokens = static_cast<double>(limit.tokens_per_minute);
  } else {
    double minutes = std::chrono::duration<double>(now - b.updated).count() / 60.0;
    if (minutes > 0) {
      b.requests =
          std::min<double>(limit.requests_per_minute, b.requests + minutes * limit.requests_per_minute);
      b.tokens = std::min<double>(limit.tokens_per_minute, b.tokens + minutes * limit.tokens_per_minute);
    }
  }
  b.updated = now;
  return b;
}

void RateLimiter::prune(Clock::time_point now) {
  // Clients idle for two minutes have full buckets again: forgetting them changes nothing.
  if (now - last_prune_ < std::chrono::minutes(1)) return;
  last_prune_ = now;
  std::erase_if(buckets_, [&](const auto& kv) { return now - kv.second.updated > std::chrono::minutes(2); });
}

int RateLimiter::admit(const std::string& client, const RateLimit& limit, Clock::time_point now) {
  if (limit.unlimited()) return 0;
  if (shared_)
    if (auto wait_s = shared_->admit(client, limit)) return *wait_s;
  std::lock_guard lock(mu_);
  prune(now);
  Bucket& b = bucket(client, limit, now);
  double wait_s = 0;
  if (limit.requests_per_minute > 0 && b.requests < 1.0)
    wait_s = std::max(wait_s, (1.0 - b.requests) * 60.0 / static_cast<double>(limit.requests_per_minute));
  if (limit.tokens_per_minute > 0 && b.tokens <= 0.0)
    wait_s = std::max(wait_s, (1.0 - b.tokens) * 60.0 / static_cast<double>(limit.tokens_per_minute));
  if (wait_s > 0) return std::max(1, static_cast<int>(std::ceil(wait_s)));
  if (limit.requests_per_minute > 0) b.requests -= 1.0;
  return 0;
}

void RateLimiter::charge_tokens(const std::string& client, const RateLimit& limit, int64_t tokens,
                                Clock::time_point now) {
  if (limit.tokens_per_minute <= 0 || tokens <= 0) return;
  if (shared_ && shared_->charge_tokens(client, limit, tokens)) return;
  std::lock_guard lock(mu_);
  bucket(client, limit, now).tokens -= static_cast<double>(tokens);
}

}  // namespace xervo::server
