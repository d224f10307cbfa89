// JSON views of the runtime's lifecycle state, as the management routes, the event stream, the
// SIGHUP log line and `xervo ps` read them: model records, aliases with their version history, the
// memory budget, events, swaps and reload reports. Times are milliseconds since the Unix epoch (0 or
// null when unset), durations milliseconds (negative keep_alive: no expiry). Stateless functions;
// safe from any thread.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>

#include "xervo/runtime.h"

namespace xervo::server {

int64_t epoch_ms(std::chrono::system_clock::time_point t);

nlohmann::json memory_estimate_json(const MemoryEstimate& m);  // {weights, kv_cache, compute, total}
nlohmann::json record_json(const ModelRecord& r);
// An alias now, with `state` of its model (from `records`) and its version history.
nlohmann::json alias_json(const AliasInfo& alias, const std::vector<ModelRecord>& records);
nlohmann::json memory_json(const MemoryStatus& m);  // {budget, used, physical, max_loaded, loaded}
nlohmann::json limits_json(const RuntimeLimits& l);
// What GET /v1/runtime/models answers: {now_ms, models, aliases, memory, limits}.
nlohmann::json runtime_json(const ModelRuntime& runtime);

nlohmann::json event_json(const ModelEvent& event);  // {event, model, reason?, progress?, alias?, ...}
nlohmann::json swap_json(const SwapResult& swap);    // {alias, from, to, was_loaded, drained}
nlohmann::json reload_json(const ReloadReport& report);

}  // namespace xervo::server
