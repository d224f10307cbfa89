// The response cache's management routes (admin scope, see classify() in server.cpp):
// GET /v1/runtime/cache (counters per tier) and POST /v1/runtime/cache/clear, and its Prometheus
// series for /metrics. The cache itself is the runtime's (src/core/response_cache.h).
#include <fmt/format.h>

#include "core/cache_stats_json.h"
#include "core/log.h"
#include "server/server_state.h"

namespace xervo::server {
std::string cache_metrics(const CacheStats& s) {
  // Exported with the cache off too (zeros), so that dashboards and alerts see stable names.
  std::string out = fmt::format(
      "# HELP xervo_cache_enabled Whether the response cache is on (1) or off (0).\n"
      "# TYPE xervo_cache_enabled gauge\nxervo_cache_enabled {}\n",
      s.enabled ? 1 : 0);
  auto series = [&](std::string_view name, std::string_view type, std::string_view help, uint64_t memory,
                    uint64_t disk) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    out += fmt::format("{}{{tier=\"memory\"}} {}\n{}{{tier=\"disk\"}} {}\n", name, memory, name, disk);
  };
  series("xervo_cache_hits_total", "counter", "Response cache lookups answered, by tier.", s.memory.hits,
         s.disk.hits);
  series("xervo_cache_misses_total", "counter", "Response cache lookups not answered, by tier.",
         s.memory.misses, s.disk.misses);
  series("xervo_cache_bytes", "gauge", "Bytes the response cache holds, by tier (disk: compressed).",
         s.memory.bytes, s.disk.bytes);
  series("xervo_cache_entries", "gauge", "Entries the response cache holds, by tier.", s.memory.entries,
         s.disk.entries);
  series("xervo_cache_evictions_total", "counter", "Entries dropped to stay within a tier's bound.",
         s.memory.evictions, s.disk.evictions);
  out +=
      "# HELP xervo_cache_corrupt_total Disk entries that failed their checks (served as misses).\n"
      "# TYPE xervo_cache_corrupt_total counter\n";
  out += fmt::format("xervo_cache_corrupt_total {}\n", s.disk.corrupt);
  out +=
      "# HELP xervo_cache_joined_total Calls that shared an identical call in flight instead of computing.\n"
      "# TYPE xervo_cache_joined_total counter\n";
  out += fmt::format("xervo_cache_joined_total {}\n", s.joined);
  auto single = [&](std::string_view name, std::string_view type, std::string_view help, uint64_t value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  single("xervo_cache_semantic_hits_total", "counter",
         "Generations answered with the answer of a close enough cached prompt.", s.semantic.hits);
  single("xervo_cache_semantic_misses_total", "counter", "Semantic cache lookups that found no close prompt.",
         s.semantic.misses);
  single("xervo_cache_semantic_errors_total", "counter",
         "Prompts the semantic cache's embed alias failed to embed (each also a miss).", s.semantic.errors);
  single("xervo_cache_semantic_entries", "gauge", "Prompts the semantic caches remember.",
         s.semantic.entries);
  single("xervo_cache_semantic_evictions_total", "counter",
         "Prompts dropped to stay within semantic_max_entries, or whose answer was gone.",
         s.semantic.evictions);
  return out;
}

void add_cache_routes(Router& router, ServerState& state) {
  router.get("/v1/runtime/cache", [&state](const HttpRequest&, HttpResponse& res) {
    send_json(res, 200, cache_stats_json(state.runtime->cache_stats()));
  });
  router.post("/v1/runtime/cache/clear", [&state](const HttpRequest&, HttpResponse& res) {
    const auto before = state.runtime->cache_stats();
    state.runtime->clear_cache();
    spdlog::info("[{}] response cache cleared ({} memory and {} disk entries, by \"{}\")",
                 current_request().request_id, before.memory.entries, before.disk.entries,
                 log_escape(current_request().client));
    send_json(res, 200, {{"cleared", true}, {"cache", cache_stats_json(state.runtime->cache_stats())}});
  });
}

}  // namespace xervo::server
