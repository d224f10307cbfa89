#include "core/cache_stats_json.h"

namespace xervo {
namespace {

nlohmann::json tier_json(const CacheTierStats& t) {
  return {{"hits", t.hits},   {"misses", t.misses},       {"entries", t.entries},
          {"bytes", t.bytes}, {"evictions", t.evictions}, {"corrupt", t.corrupt}};
}

nlohmann::json semantic_json(const CacheSemanticStats& s) {
  return {{"hits", s.hits},
          {"misses", s.misses},
          {"errors", s.errors},
          {"entries", s.entries},
          {"evictions", s.evictions}};
}

}  // namespace

nlohmann::json cache_stats_json(const CacheStats& s) {
  return {{"enabled", s.enabled},      {"memory", tier_json(s.memory)},
          {"disk", tier_json(s.disk)}, {"semantic", semantic_json(s.semantic)},
          {"joined", s.joined},        {"stores", s.stores}};
}

}  // namespace xervo
