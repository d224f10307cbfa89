#include "core/cache_tier.h"

#include <mutex>

namespace xervo {
namespace {
std::mutex tier_mu;
std::shared_ptr<SharedCacheTier> tier;  // GUARDED_BY(tier_mu)
}  // namespace

void install_shared_cache_tier(std::shared_ptr<SharedCacheTier> t) {
  std::lock_guard lock(tier_mu);
  tier = std::move(t);
}

std::shared_ptr<SharedCacheTier> installed_shared_cache_tier() {
  std::lock_guard lock(tier_mu);
  return tier;
}

}  // namespace xervo
