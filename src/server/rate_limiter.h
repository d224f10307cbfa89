// Per-client token buckets: requests per minute and tokens per minute. A bucket holds at most one
// minute's allowance and refills continuously. Token use is only known after a request, so it is
// charged afterwards and may drive the bucket negative: the next requests wait until it refills.
// Thread-safe (one mutex; no I/O under it).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace xervo::server {

struct RateLimit {
  int64_t requests_per_minute = 0;  // 0 = unlimited
  int64_t tokens_per_minute = 0;    // 0 = unlimited
  bool unlimited() const { return requests_per_minute <= 0 && tokens_per_minute <= 0; }
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // Buckets shared by the replicas of a cluster (cluster/shared_rate_limits.h). Asked first; when it
  // cannot answer (nullopt, false: Redis unreachable) this process's own bucket decides.
  class Shared {
   public:
    virtual ~Shared() = default;
    virtual std::optional<int> admit(const std::string& client, const RateLimit& limit) = 0;
    virtual bool charge_tokens(const std::string& client, const RateLimit& limit, int64_t tokens) = 0;
  };
  // Set once, before the first request (Server::start).
  void share(std::shared_ptr<Shared> shared) { shared_ = std::move(shared); }

  // Takes one request from `client`'s bucket. 0 when admitted; otherwise the seconds until a
  // retry can succeed (nothing is taken).
  int admit(const std::string& client, const RateLimit& limit, Clock::time_point now = Clock::now());
  // Charges tokens a finished request used.
  void charge_tokens(const std::string& client, const RateLimit& limit, int64_t tokens,
                     Clock::time_point now = Clock::now());

 private:
  struct Bucket {
    double requests = 0;
    double tokens = 0;
    Clock::time_point updated;
  };
  Bucket& bucket(const std::string& client, const RateLimit& limit, Clock::time_point now);  // REQUIRES: mu_
  void prune(Clock::time_point now);                                                         // REQUIRES: mu_

  std::shared_ptr<Shared> shared_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // GUARDED_BY(mu_)
  Clock::time_point last_prune_{};                   // GUARDED_BY(mu_)
};

}  // namespace xervo::server
