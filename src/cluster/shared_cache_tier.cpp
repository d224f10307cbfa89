#include "cluster/shared_cache_tier.h"

namespace xervo::cluster {

std::optional<std::string> RedisCacheTier::get(const std::string& key) {
  auto v = redis_->command({"GET", prefix_ + "cache:" + key});
  if (!v || v->type != RedisValue::Type::string || v->str.size() > max_entry_bytes_) {
    misses_++;
    return std::nullopt;
  }
  hits_++;
  return std::move(v->str);
}

void RedisCacheTier::put(const std::string& key, std::string_view value) {
  if (value.size() > max_entry_bytes_) return;
  auto v = redis_->command(
      {"SET", prefix_ + "cache:" + key, std::string(value), "EX", std::to_string(ttl_.count())});
  if (v && !v->is_error()) stores_++;
}

void RedisCacheTier::clear() {
  // SCAN in steps (never KEYS, which blocks Redis), bounded so a huge keyspace cannot hold the call.
  std::string cursor = "0";
  for (int step = 0; step < 1000; ++step) {
    auto v = redis_->command({"SCAN", cursor, "MATCH", prefix_ + "cache:*", "COUNT", "1000"});
    if (!v || v->type != RedisValue::Type::array || v->elements.size() != 2) return;
    cursor = v->elements[0].str;
    std::vector<std::string> unlink = {"UNLINK"};
    for (const auto& k : v->elements[1].elements) unlink.push_back(k.str);
    if (unlink.size() > 1 && !redis_->command(unlink)) return;
    if (cursor == "0") return;
  }
}

}  // namespace xervo::cluster
