#include "cluster/cluster.h"

#include <fmt/format.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include "core/option_fields.h"

namespace xervo::cluster {
namespace {

const options::Section kSection{"[cluster] "};

bool safe_label(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' && c != ':')
      return false;
  return true;
}

}  // namespace

Result<std::optional<ClusterOptions>> parse_cluster_options(const nlohmann::json& section) {
  ClusterOptions o;
  if (!section.is_null() && !section.is_object())
    return Error(ErrorCode::config_invalid, "[cluster] must be a table");
  if (section.is_object()) {
    for (const auto& [key, v] : section.items()) {
      if (key == "redis_url" || key == "key_prefix" || key == "replica_id") {
        if (!v.is_string()) return kSection.invalid(key, "must be a string");
        std::string s = v.get<std::string>();
        if (key == "redis_url") o.redis_url = s;
        if (key == "key_prefix") {
          if (s.empty() || s.size() > 64) return kSection.invalid(key, "must be 1 to 64 characters");
          o.key_prefix = s;
        }
        if (key == "replica_id") {
          if (!safe_label(s)) return kSection.invalid(key, "must be 1 to 128 of [A-Za-z0-9._:-]");
          o.replica_id = s;
        }
      } else if (key == "timeout_ms") {
        auto n = kSection.integer(v, key, 10, 10000);
        if (!n.ok()) return n.error();
        o.timeout = std::chrono::milliseconds(*n);
      } else if (key == "batch_lease_s") {
        auto n = kSection.integer(v, key, 2, 3600);
        if (!n.ok()) return n.error();
        o.batch_lease = std::chrono::seconds(*n);
      } else if (key == "shared_cache_ttl_s") {
        auto n = kSection.integer(v, key, 1, 365 * 86400);
        if (!n.ok()) return n.error();
        o.shared_cache_ttl = std::chrono::seconds(*n);
      } else if (key == "shared_cache_max_entry_bytes") {
        auto n = kSection.integer(v, key, 1, 512 << 20);
        if (!n.ok()) return n.error();
        o.shared_cache_max_entry_bytes = static_cast<uint64_t>(*n);
      } else if (key == "shared_limits" || key == "shared_cache") {
        if (!v.is_boolean()) return kSection.invalid(key, "must be true or false");
        (key == "shared_limits" ? o.shared_limits : o.shared_cache) = v.get<bool>();
      } else {
        return kSection.invalid(key,
                       "unknown key (expected redis_url, key_prefix, timeout_ms, replica_id, batch_lease_s, "
                       "shared_limits, shared_cache, shared_cache_ttl_s, shared_cache_max_entry_bytes)");
      }
    }
  }
  if (const char* env = std::getenv("XERVO_REDIS_URL"); env && *env) o.redis_url = env;
  if (o.redis_url.empty()) return std::optional<ClusterOptions>();
  if (auto e = parse_redis_url(o.redis_url); !e.ok()) return e.error();
  return std::optional<ClusterOptions>(std::move(o));
}

Result<std::shared_ptr<Cluster>> Cluster::create(ClusterOptions options) {
  auto endpoint = parse_redis_url(options.redis_url);
  if (!endpoint.ok()) return endpoint.error();
  std::shared_ptr<Cluster> c(new Cluster(std::move(options)));
  const auto& o = c->options_;
  c->replica_id_ = o.replica_id;
  if (c->replica_id_.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof(host) - 1) != 0 || !safe_label(host))
      std::snprintf(host, sizeof(host), "replica");
    c->replica_id_ = std::string(host) + "-" + std::to_string(::getpid());
  }
  c->redis_ = std::make_shared<RedisClient>(std::move(*endpoint), o.timeout);
  if (o.shared_limits) c->limits_ = std::make_shared<SharedRateLimits>(*c->redis_, o.key_prefix);
  if (o.shared_cache)
    c->cache_ = std::make_shared<RedisCacheTier>(c->redis_, o.key_prefix, o.shared_cache_ttl,
                                                 o.shared_cache_max_entry_bytes);
  c->leases_ = std::make_shared<RedisBatchLeases>(*c->redis_, o.key_prefix, c->replica_id_, o.batch_lease);
  c->revocations_ = std::make_unique<KeyRevocations>(*c->redis_, o.key_prefix);
  c->revocations_->refresh();
  Cluster* raw = c.get();
  c->refresher_ = std::jthread([raw](std::stop_token stop) { raw->refresh_loop(stop); });
  return c;
}

Cluster::~Cluster() {
  refresher_.request_stop();
  if (refresher_.joinable()) refresher_.join();
}

void Cluster::refresh_loop(std::stop_token stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  while (!stop.stop_requested()) {
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, stop, std::chrono::seconds(1), [] { return false; });
    }
    if (stop.stop_requested()) return;
    if (redis_->up()) revocations_->refresh();
  }
}

nlohmann::json Cluster::status_json() const {
  const bool up = redis_->up();
  return {{"replica", replica_id_},
          {"redis", up ? "up" : "unreachable"},
          {"state", up ? "shared" : "local"},
          {"detail",
           up ? "rate limits, cache, batch leases and key revocations are shared through " + redis_->where()
              : "Redis at " + redis_->where() +
                    " does not answer: rate limits are per replica, the shared cache tier is skipped, "
                    "no batch is taken over; reconnecting in the background"}};
}

std::string Cluster::metrics() const {
  std::string out;
  out +=
      "# HELP xervo_cluster_redis_up Whether this replica reaches the cluster's Redis (0: local state "
      "only).\n";
  out += "# TYPE xervo_cluster_redis_up gauge\n";
  out += fmt::format("xervo_cluster_redis_up {}\n", redis_->up() ? 1 : 0);
  out += "# HELP xervo_cluster_redis_errors_total Redis calls that found it unreachable or timed out.\n";
  out += "# TYPE xervo_cluster_redis_errors_total counter\n";
  out += fmt::format("xervo_cluster_redis_errors_total {}\n", redis_->errors());
  if (cache_) {
    out += "# HELP xervo_cluster_cache_total Lookups and stores of the response cache's shared tier.\n";
    out += "# TYPE xervo_cluster_cache_total counter\n";
    out += fmt::format("xervo_cluster_cache_total{{result=\"hit\"}} {}\n", cache_->hits());
    out += fmt::format("xervo_cluster_cache_total{{result=\"miss\"}} {}\n", cache_->misses());
    out += fmt::format("xervo_cluster_cache_total{{result=\"store\"}} {}\n", cache_->stores());
  }
  return out;
}

}  // namespace xervo::cluster
