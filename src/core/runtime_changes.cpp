// Changes to the alias table while traffic flows: swap (re-point an alias at a new target, loading
// it beside the old one, or after the old one drained when the budget has no room for both),
// rollback (swap back to the previous target) and reload (apply a re-read config as a diff).
#include "core/log.h"
#include "core/runtime_impl.h"

namespace xervo {
namespace {}  // namespace

ModelSpec retargeted(const ModelSpec& current, const ModelSpec& target, bool keep_unset) {
  // Only the target changes; the alias keeps its task and lifecycle settings. With keep_unset (an
  // API swap naming just a model), an empty provider or options keeps the current one.
  ModelSpec next = current;
  if (!keep_unset || !target.provider.empty()) next.provider = target.provider;
  next.model = target.model;
  next.revision = target.revision;
  const bool options_unset =
      target.options.is_null() || (target.options.is_object() && target.options.empty());
  if (!keep_unset || !options_unset)
    next.options = target.options.is_null() ? nlohmann::json::object() : target.options;
  return next;
}

namespace {

// Everything of a spec but its target: what a reload may change without a swap.
bool same_settings(const ModelSpec& a, const ModelSpec& b) {
  return a.warmup == b.warmup && a.fallbacks == b.fallbacks &&
         a.fallback_on_any_error == b.fallback_on_any_error && a.pin == b.pin &&
         a.keep_alive == b.keep_alive && a.cache == b.cache && a.semantic_cache == b.semantic_cache;
}

}  // namespace

Result<SwapResult> ModelRuntime::Impl::swap_locked(ModelSpec next, const ChangeOptions& options,
                                                   const std::string& action) {
  auto slot = aliases.get(next.alias);
  if (!slot) return Error(ErrorCode::alias_not_found, "no alias '" + next.alias + "' to swap");
  if (next.model.empty())
    return Error(ErrorCode::invalid_input, "swap of '" + next.alias + "' names no model");
  if (next.task != slot->spec.task)
    return Error(ErrorCode::invalid_input, "swap of '" + next.alias + "' would change its task");
  const ModelSpec old = slot->spec;
  // The new target passes the same checks as a config alias.
  std::map<std::string, ModelSpec> all;
  for (auto& s : aliases.specs()) all.emplace(s.alias, s);
  all[next.alias] = next;
  if (auto valid = validate_specs(providers, all, provider_settings, locations); !valid.ok())
    return valid.error();

  SwapResult result{next.alias, make_model_key(old), make_model_key(next), false, false};
  const std::string old_key = result.from.to_string();
  const std::string by = options.by.empty() ? "api" : options.by;
  if (result.from == result.to) {
    aliases.repoint(next, by, action);
    return result;
  }
  auto old_record = registry.record(old_key);
  result.was_loaded = old_record && old_record->state == ModelState::loaded;
  auto emit_swapped = [&] {
    ModelEvent event;
    event.kind = ModelEventKind::swapped;
    if (auto r = registry.record(result.to.to_string()))
      event.record = *r;
    else
      event.record.key = result.to, event.record.task = next.task;
    event.alias = next.alias;
    event.previous = result.from;
    spdlog::info("swapped {}: {} -> {} ({}, by {})", next.alias, old_key, result.to.to_string(), action, by);
    events.emit(event);
  };
  if (!result.was_loaded) {
    // Nothing to keep serving: the next call loads the new target.
    aliases.repoint(next, by, action);
    unload_if_unreferenced(old_key, UnloadReason::swapped);
    emit_swapped();
    return result;
  }

  const LoadControl control = load_control(options.bounds);
  Resolved resolved{next, slot->version};
  LoadPolicy policy = policy_for(resolved, options.bounds);
  policy.protect = old_key;
  policy.wait_for_memory = false;
  auto beside = acquire(next, control, policy);
  if (beside.ok()) {
    aliases.repoint(next, by, action);
    beside = Error(ErrorCode::internal, "released");  // drop this call's lease: the model stays loaded
    unload_if_unreferenced(old_key, UnloadReason::swapped);
    emit_swapped();
    return result;
  }
  if (beside.error().code() != ErrorCode::insufficient_memory || aliases.references(old_key) == false)
    return beside.error();
  // No room for both: new calls go to the new target now (they wait for its load), calls running on
  // the old one finish, and its memory comes back when they have.
  spdlog::info("swap of {}: no room beside {}; loading after it drains", next.alias, old_key);
  aliases.repoint(next, by, action);
  const bool other_users = aliases.references(old_key);
  if (!other_users) registry.unload(old_key, UnloadReason::swapped);
  policy.protect.clear();
  policy.wait_for_memory = true;
  auto after = acquire(next, control, policy);
  if (!after.ok()) {
    // Back to the old target; it loads again on the next call (its memory was given up).
    aliases.repoint(old, by, "swap failed");
    unload_if_unreferenced(result.to.to_string(), UnloadReason::failed);
    return Error(after.error().code(), "swap of '" + next.alias + "' failed, it points at " + old.model +
                                           " again: " + after.error().message());
  }
  result.drained = true;
  emit_swapped();
  return result;
}

Result<ReloadReport> ModelRuntime::Impl::reload_locked(const Config& config, const ChangeOptions& options) {
  // Everything is checked before anything changes.
  auto new_limits = parse_runtime_limits(config);
  if (!new_limits.ok()) return new_limits.error();
  std::map<std::string, ModelSpec> wanted;
  for (const auto& spec : config.models) {
    if (spec.alias.empty()) return Error(ErrorCode::config_invalid, "a model spec has no alias");
    if (!wanted.emplace(spec.alias, spec).second)
      return Error(ErrorCode::config_invalid, "alias '" + spec.alias + "' is defined twice");
  }
  std::map<std::string, std::string> where = locations;
  for (const auto& [k, v] : config.locations) where[k] = v;
  if (auto valid = validate_specs(providers, wanted, provider_settings, where); !valid.ok())
    return valid.error();

  ReloadReport report;
  const std::string by = options.by.empty() ? "reload" : options.by;
  if (config.providers != provider_settings)
    report.notes.push_back("[providers] changed: provider settings apply after a restart");
  {
    std::lock_guard lock(limits_mu);
    limits = *new_limits;
  }
  registry.set_limits({new_limits->memory_budget, new_limits->max_loaded, new_limits->device_memory_budget});

  std::map<std::string, ModelSpec> current;
  for (auto& s : aliases.specs()) current.emplace(s.alias, s);
  for (const auto& [alias, spec] : current) {
    if (wanted.count(alias)) continue;
    aliases.erase(alias);
    unload_if_unreferenced(make_model_key(spec).to_string(), UnloadReason::explicit_);
    report.removed.push_back(alias);
  }
  std::vector<std::string> to_load;
  for (const auto& [alias, spec] : wanted) {
    auto it = current.find(alias);
    if (it == current.end()) {
      aliases.insert(spec, by, "reload");
      report.added.push_back(alias);
      if (spec.warmup != WarmupPolicy::lazy) to_load.push_back(alias);
      continue;
    }
    const ModelSpec& old = it->second;
    if (make_model_key(old) != make_model_key(spec) || old.task != spec.task) {
      if (old.task != spec.task) {  // a task change is a new alias under an old name
        aliases.erase(alias);
        unload_if_unreferenced(make_model_key(old).to_string(), UnloadReason::explicit_);
        aliases.insert(spec, by, "reload");
        report.swapped.push_back(alias);
        continue;
      }
      auto swapped = swap_locked(spec, options, "reload");
      if (!swapped.ok()) {
        report.failed.emplace_back(alias, swapped.error());
        continue;
      }
      report.swapped.push_back(alias);
      const std::string key = make_model_key(spec).to_string();
      if (old.pin != spec.pin) registry.set_pinned(key, spec.pin);
    } else if (!same_settings(old, spec)) {
      aliases.update(alias, [&](ModelSpec& s) { s = spec; });
      const std::string key = make_model_key(spec).to_string();
      if (old.pin != spec.pin) registry.set_pinned(key, spec.pin);
      if (old.keep_alive != spec.keep_alive)  // an alias without one goes back to [runtime]'s default
        registry.set_keep_alive(key, spec.keep_alive.value_or(new_limits->keep_alive));
      report.updated.push_back(alias);
    }
  }
  for (const auto& alias : to_load) {
    ModelSpec resolved;
    auto r = resolve_and_acquire(alias, std::nullopt, options.bounds, resolved);
    if (!r.ok()) report.failed.emplace_back(alias, r.error());
  }
  spdlog::info("reload by {}: {} added, {} removed, {} swapped, {} updated, {} failed", by,
               report.added.size(), report.removed.size(), report.swapped.size(), report.updated.size(),
               report.failed.size());
  return report;
}

}  // namespace xervo
