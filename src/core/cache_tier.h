// The response cache's shared tier: a store every replica of a cluster reads and writes (Redis,
// cluster/shared_cache_tier.h), asked after the memory and disk tiers miss; a hit there is kept in
// memory. Installed once by the process (xervo serve, before it builds the runtime) and picked up by
// each ResponseCache it builds; none is installed by default. An implementation answers within a
// short timeout and treats an outage as a miss: the cache never fails a call because of it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace xervo {

class SharedCacheTier {
 public:
  virtual ~SharedCacheTier() = default;
  // `key` is the entry's digest in hex (ResponseCache::to_hex).
  virtual std::optional<std::string> get(const std::string& key) = 0;
  virtual void put(const std::string& key, std::string_view value) = 0;
  virtual void clear() = 0;  // POST /v1/runtime/cache/clear: every replica's shared entries
};

void install_shared_cache_tier(std::shared_ptr<SharedCacheTier> tier);
std::shared_ptr<SharedCacheTier> installed_shared_cache_tier();

}  // namespace xervo
