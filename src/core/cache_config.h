// The per-alias cache settings of xervo.toml, for the config parser (config.cpp). Internal.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "xervo/model_spec.h"

namespace xervo {

// [models."X".cache] as a table: `enabled` (what `cache = true|false` says), `semantic_embed`,
// `semantic_threshold`, `semantic_max_entries` (docs/configuration.md). Sets spec.cache and
// spec.semantic_cache; on a bad key or value, returns that key (under cache.) and what is wrong.
// Whether the embed alias exists is checked with the whole table (check_semantic_caches).
std::optional<std::pair<std::string, std::string>> parse_alias_cache_table(const nlohmann::json& table,
                                                                           ModelSpec& spec);

}  // namespace xervo
