// The recent requests the dashboard's Activity page lists (GET /v1/runtime/requests): a bounded
// ring of the last requests the server answered, newest last, each as the access log sees it.
// The dashboard's own background reads (its files, /metrics scrapes, this list) are left out.
// Thread-safe: one mutex guards the ring.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace xervo::server {

struct RecentRequest {
  int64_t at_ms = 0;  // when it ended, milliseconds since the Unix epoch
  std::string request_id;
  std::string method;
  std::string route;  // the route label (bounded set)
  std::string path;   // as sent (escaped with log_escape when added, which bounds it)
  int status = 0;
  double duration_ms = 0;
  std::string model;
  std::string client;  // "key:NAME", "jwt:SUBJECT" or the client's address
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
};

class RecentRequests {
 public:
  static constexpr size_t kCapacity = 200;

  // Whether requests of this route label are recorded (not the dashboard's own background reads).
  static bool recorded(std::string_view route);
  void add(RecentRequest request);
  // The last `limit` requests, newest first, as JSON objects.
  nlohmann::json json(size_t limit = kCapacity) const;

 private:
  mutable std::mutex mu_;
  std::deque<RecentRequest> ring_;  // GUARDED_BY(mu_)
};

}  // namespace xervo::server
