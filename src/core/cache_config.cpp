// [cache] of xervo.toml: the response cache's switch, tier sizes, TTL and folder (CacheOptions);
// and an alias's own cache table (core/cache_config.h).
#include "core/cache_config.h"

#include <cmath>
#include <string>

#include "xervo/cache.h"
#include "xervo/config.h"
#include "xervo/error.h"

namespace xervo {

Result<CacheOptions> parse_cache_options(const Config& config) {
  CacheOptions options;
  if (!config.cache.is_object()) return options;
  auto fail = [&](const std::string& key, const std::string& what) {
    return Error(ErrorCode::config_invalid, config.where("cache." + key) + ": cache." + key + ": " + what);
  };
  auto size = [&](const std::string& key, const nlohmann::json& value) -> Result<uint64_t> {
    if (value.is_number_integer() && value.get<int64_t>() == 0) return uint64_t{0};
    auto bytes = parse_memory_size(value, physical_memory_bytes());
    if (!bytes) return fail(key, bytes.error().message() + " (0 for none)");
    return *bytes;
  };
  for (const auto& [key, value] : config.cache.items()) {
    if (key == "enabled") {
      if (!value.is_boolean()) return fail(key, "must be true or false");
      options.enabled = value.get<bool>();
    } else if (key == "memory" || key == "disk") {
      auto bytes = size(key, value);
      if (!bytes) return bytes.error();
      (key == "memory" ? options.memory_bytes : options.disk_bytes) = *bytes;
    } else if (key == "ttl") {
      auto ttl = parse_keep_alive(value);
      if (!ttl || ttl->count() <= 0)
        return fail(key, "must be a positive duration (\"24h\", \"30m\") or seconds");
      options.ttl = std::chrono::duration_cast<std::chrono::seconds>(*ttl);
      if (options.ttl.count() == 0) options.ttl = std::chrono::seconds(1);
    } else if (key == "dir") {
      if (!value.is_string() || value.get<std::string>().empty()) return fail(key, "must be a folder path");
      options.dir = value.get<std::string>();
    } else if (key == "max_entry") {
      auto bytes = size(key, value);
      if (!bytes || *bytes == 0) return fail(key, "must be a size such as \"64MiB\"");
      options.max_entry_bytes = *bytes;
    } else {
      return fail(key, "unknown key (known keys: enabled, memory, disk, ttl, dir, max_entry)");
    }
  }
  return options;
}

std::optional<std::pair<std::string, std::string>> parse_alias_cache_table(const nlohmann::json& table,
                                                                           ModelSpec& spec) {
  using Bad = std::pair<std::string, std::string>;
  SemanticCacheSpec semantic;
  bool has_semantic = false;
  for (const auto& [key, value] : table.items()) {
    if (key == "enabled") {
      if (!value.is_boolean()) return Bad{key, "must be true or false"};
      spec.cache = value.get<bool>();
    } else if (key == "semantic_embed") {
      if (!value.is_string() || value.get<std::string>().empty())
        return Bad{key, "must name an embed alias, such as \"embed/default\""};
      semantic.embed = value.get<std::string>();
      has_semantic = true;
    } else if (key == "semantic_threshold") {
      const double t = value.is_number() ? value.get<double>() : NAN;
      if (!(t > 0.0 && t <= 1.0)) return Bad{key, "must be a cosine similarity in (0, 1], such as 0.95"};
      semantic.threshold = t;
    } else if (key == "semantic_max_entries") {
      if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > 1'000'000)
        return Bad{key, "must be a count from 1 to 1000000"};
      semantic.max_entries = static_cast<size_t>(value.get<int64_t>());
    } else {
      return Bad{key,
                 "unknown key (known keys: enabled, semantic_embed, semantic_threshold, "
                 "semantic_max_entries)"};
    }
  }
  if (!has_semantic) {
    if (table.contains("semantic_threshold") || table.contains("semantic_max_entries"))
      return Bad{table.contains("semantic_threshold") ? "semantic_threshold" : "semantic_max_entries",
                 "needs semantic_embed (the embed alias that compares prompts)"};
    return std::nullopt;
  }
  if (spec.cache == false) return Bad{"enabled", "false turns the cache off, and the semantic cache with it"};
  spec.semantic_cache = semantic;
  return std::nullopt;
}

}  // namespace xervo
