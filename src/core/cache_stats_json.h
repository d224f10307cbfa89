// The response cache's counters as JSON: the body of GET /v1/runtime/cache and what
// `xervo cache stats --json` prints, from one place so the server and the CLI cannot drift apart.
#pragma once

#include <nlohmann/json.hpp>

#include "xervo/cache.h"

namespace xervo {

nlohmann::json cache_stats_json(const CacheStats& stats);

}  // namespace xervo
