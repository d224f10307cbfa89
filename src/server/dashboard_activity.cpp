#include "server/dashboard_activity.h"

#include "core/log.h"

namespace xervo::server {

bool RecentRequests::recorded(std::string_view route) {
  return route != "/dashboard" && route != "/metrics" && route != "/health" &&
         route != "/v1/runtime/requests" && route != "/v1/auth/whoami" && route != "OPTIONS";
}

void RecentRequests::add(RecentRequest request) {
  request.path = log_escape(request.path);
  std::lock_guard lock(mu_);
  if (ring_.size() >= kCapacity) ring_.pop_front();
  ring_.push_back(std::move(request));
}

nlohmann::json RecentRequests::json(size_t limit) const {
  nlohmann::json out = nlohmann::json::array();
  std::lock_guard lock(mu_);
  for (auto it = ring_.rbegin(); it != ring_.rend() && out.size() < limit; ++it)
    out.push_back({{"at_ms", it->at_ms},
                   {"request_id", it->request_id},
                   {"method", it->method},
                   {"route", it->route},
                   {"path", it->path},
                   {"status", it->status},
                   {"duration_ms", it->duration_ms},
                   {"model", it->model},
                   {"client", it->client},
                   {"tokens_in", it->tokens_in},
                   {"tokens_out", it->tokens_out}});
  return out;
}

}  // namespace xervo::server
