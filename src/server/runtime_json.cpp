#include "server/runtime_json.h"

#include <map>

namespace xervo::server {
namespace {

nlohmann::json error_json(const std::optional<Error>& error) {
  if (!error) return nullptr;
  return {{"code", std::string(to_string(error->code()))}, {"message", error->message()}};
}

nlohmann::json version_json(const AliasVersion& v) {
  return {{"provider", v.spec.provider}, {"model", v.spec.model},
          {"revision", v.spec.revision}, {"key", make_model_key(v.spec).to_string()},
          {"at_ms", epoch_ms(v.at)},     {"by", v.by},
          {"action", v.action}};
}

}  // namespace

int64_t epoch_ms(std::chrono::system_clock::time_point t) {
  if (t == std::chrono::system_clock::time_point{}) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

nlohmann::json memory_estimate_json(const MemoryEstimate& m) {
  return {{"weights", m.weights}, {"kv_cache", m.kv_cache}, {"compute", m.compute}, {"total", m.total()}};
}

nlohmann::json record_json(const ModelRecord& r) {
  return {{"key", r.key.to_string()},
          {"task", std::string(to_string(r.task))},
          {"provider", r.key.provider},
          {"model", r.key.model},
          {"revision", r.key.revision},
          {"aliases", r.aliases},
          {"state", std::string(to_string(r.state))},
          {"error", error_json(r.error)},
          {"load_duration_ms", r.load_duration.count()},
          {"memory_bytes", r.memory_bytes},
          {"placement", r.placement},
          {"estimated", memory_estimate_json(r.estimated)},
          {"measured", memory_estimate_json(r.measured)},
          {"rss_delta_bytes", r.rss_delta_bytes},
          {"charged_bytes", r.charged_bytes},
          {"pinned", r.pinned},
          {"keep_alive_ms", r.keep_alive.count()},
          {"expires_at_ms", r.expires_at ? nlohmann::json(epoch_ms(*r.expires_at)) : nlohmann::json(nullptr)},
          {"loaded_at_ms", epoch_ms(r.loaded_at)},
          {"last_used_ms", epoch_ms(r.last_used)},
          {"in_flight", r.in_flight},
          {"handles", r.handles},
          {"waiting", r.waiting},
          {"load_count", r.load_count}};
}

nlohmann::json alias_json(const AliasInfo& alias, const std::vector<ModelRecord>& records) {
  const ModelSpec& spec = alias.spec;
  const std::string key = make_model_key(spec).to_string();
  ModelState state = ModelState::unloaded;
  for (const auto& r : records)
    if (r.key.to_string() == key) state = r.state;
  nlohmann::json history = nlohmann::json::array();
  for (const auto& v : alias.history) history.push_back(version_json(v));
  return {
      {"alias", spec.alias},
      {"task", std::string(to_string(spec.task))},
      {"provider", spec.provider},
      {"model", spec.model},
      {"revision", spec.revision},
      {"warmup", std::string(to_string(spec.warmup))},
      {"fallbacks", spec.fallbacks},
      {"key", key},
      {"state", std::string(to_string(state))},
      {"pin", spec.pin},
      {"keep_alive_ms", spec.keep_alive ? nlohmann::json(spec.keep_alive->count()) : nlohmann::json(nullptr)},
      {"history", history}};
}

nlohmann::json memory_json(const MemoryStatus& m) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : m.devices) devices.push_back({{"name", d.name}, {"budget", d.budget}, {"used", d.used}});
  return {{"budget", m.budget},     {"used", m.used},     {"physical", m.physical},
          {"max_loaded", m.max_loaded}, {"loaded", m.loaded}, {"devices", std::move(devices)}};
}

nlohmann::json limits_json(const RuntimeLimits& l) {
  return {{"memory_budget", l.memory_budget},
          {"device_memory_budget", l.device_memory_budget},
          {"max_loaded", l.max_loaded},
          {"keep_alive_ms", l.keep_alive.count()},
          {"adhoc_keep_alive_ms", l.adhoc_keep_alive.count()}};
}

nlohmann::json runtime_json(const ModelRuntime& runtime) {
  auto records = runtime.models();
  nlohmann::json models = nlohmann::json::array();
  for (const auto& r : records) models.push_back(record_json(r));
  nlohmann::json aliases = nlohmann::json::array();
  for (const auto& a : runtime.aliases()) aliases.push_back(alias_json(a, records));
  return {{"now_ms", epoch_ms(std::chrono::system_clock::now())},
          {"models", models},
          {"aliases", aliases},
          {"memory", memory_json(runtime.memory())},
          {"limits", limits_json(runtime.limits())}};
}

nlohmann::json event_json(const ModelEvent& event) {
  nlohmann::json out = {{"event", std::string(to_string(event.kind))}, {"model", record_json(event.record)}};
  switch (event.kind) {
    case ModelEventKind::loading:
      out["progress"] = event.progress;
      out["stage"] = event.stage;
      break;
    case ModelEventKind::unloaded:
      out["reason"] =
          event.reason ? nlohmann::json(std::string(to_string(*event.reason))) : nlohmann::json(nullptr);
      break;
    case ModelEventKind::swapped:
      out["alias"] = event.alias;
      out["previous"] =
          event.previous ? nlohmann::json(event.previous->to_string()) : nlohmann::json(nullptr);
      break;
    case ModelEventKind::loaded:
    case ModelEventKind::failed:
      break;
  }
  return out;
}

nlohmann::json swap_json(const SwapResult& swap) {
  return {{"alias", swap.alias},
          {"from", swap.from.to_string()},
          {"to", swap.to.to_string()},
          {"was_loaded", swap.was_loaded},
          {"drained", swap.drained}};
}

nlohmann::json reload_json(const ReloadReport& report) {
  nlohmann::json failed = nlohmann::json::array();
  for (const auto& [alias, error] : report.failed)
    failed.push_back(
        {{"alias", alias}, {"code", std::string(to_string(error.code()))}, {"message", error.message()}});
  return {{"added", report.added},     {"removed", report.removed}, {"swapped", report.swapped},
          {"updated", report.updated}, {"failed", failed},          {"notes", report.notes}};
}

}  // namespace xervo::server
