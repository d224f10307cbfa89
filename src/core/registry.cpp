#include "core/registry.h"

#include <algorithm>

#include "core/log.h"

namespace xervo {

void ModelUsage::touch() {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  last_used_ms.store(now.count(), std::memory_order_relaxed);
}

ModelRecord ModelRegistry::snapshot(const Entry& e) {
  ModelRecord r;
  r.key = e.key;
  r.task = e.key.task;
  r.aliases = e.aliases;
  r.state = e.state;
  r.error = e.error;
  r.load_duration = e.load_duration;
  r.memory_bytes = e.model ? e.model->memory_bytes : 0;
  r.loaded_at = e.loaded_at;
  r.last_used = std::chrono::system_clock::time_point(
      std::chrono::milliseconds(e.usage->last_used_ms.load(std::memory_order_relaxed)));
  r.in_flight = e.usage->in_flight.load(std::memory_order_relaxed);
  r.load_count = e.load_count;
  r.waiting = e.waiting;
  return r;
}

std::shared_ptr<ModelRegistry::Entry> ModelRegistry::find_or_create(const ModelKey& key) {
  const std::string k = key.to_string();
  {
    std::shared_lock lock(mu_);
    if (auto it = entries_.find(k); it != entries_.end()) return it->second;
  }
  std::unique_lock lock(mu_);
  auto [it, inserted] = entries_.try_emplace(k, nullptr);
  if (inserted) it->second = std::make_shared<Entry>(key);
  return it->second;
}

Result<AcquiredModel> ModelRegistry::acquire(const ModelSpec& spec, ModelProvider& provider,
                                             const LoadControl& control) {
  for (;;) {
    std::shared_ptr<Entry> entry = find_or_create(make_model_key(spec));
    Entry& e = *entry;
    std::unique_lock lock(e.mu);
    if (!spec.alias.empty() && std::find(e.aliases.begin(), e.aliases.end(), spec.alias) == e.aliases.end())
      e.aliases.push_back(spec.alias);
    if (e.state == ModelState::loaded) return AcquiredModel{e.model, e.usage};
    if (e.state == ModelState::loading) {
      if (auto outcome = wait_for_load(e, lock, spec, control)) return std::move(*outcome);
      continue;  // a newer attempt started, the load was abandoned or the model unloaded: again
    }
    if (control.should_stop()) return control.stop_error("loading " + display_name(spec));
    e.state = ModelState::loading;
    e.error.reset();
    e.removed = false;
    ++e.load_count;
    lock.unlock();
    return run_load(e, spec, provider, control);  // `entry` keeps e alive
  }
}

std::optional<Result<AcquiredModel>> ModelRegistry::wait_for_load(Entry& e,
                                                                  std::unique_lock<std::mutex>& lock,
                                                                  const ModelSpec& spec,
                                                                  const LoadControl& control) {
  // Wait for the running attempt and take its outcome, whatever it is, unless this caller's own
  // bounds come first: then it leaves, and the load goes on for the others.
  const int64_t attempt = e.load_count;
  auto finished = [&] { return e.load_count != attempt || e.state != ModelState::loading; };
  ++e.waiting;
  const bool done = control.deadline ? e.cv.wait_until(lock, control.cancel, *control.deadline, finished)
                                     : e.cv.wait(lock, control.cancel, finished);
  --e.waiting;
  if (!done) return control.stop_error("waiting for " + display_name(spec) + " to load");
  if (e.load_count != attempt) return std::nullopt;
  if (e.state == ModelState::loaded || (e.removed && e.model)) return AcquiredModel{e.model, e.usage};
  if (e.state == ModelState::failed && e.error) return *e.error;
  return std::nullopt;
}

Result<LoadedModel> ModelRegistry::call_provider(const ModelSpec& spec, ModelProvider& provider,
                                                 const LoadControl& control) {
  // An engine that reports progress can stop midway: the callback says whether to go on.
  ProgressCallback progress = [&control](float, std::string_view) { return !control.should_stop(); };
  try {
    auto loaded = provider.load(spec, progress, control);
    if (loaded.ok() && !loaded->has(spec.task))
      return Error(ErrorCode::capability_mismatch, "provider '" + provider.id() + "' loaded '" + spec.model +
                                                       "' but it cannot " +
                                                       std::string(to_string(spec.task)));
    if (loaded.ok() && spec.warmup != WarmupPolicy::lazy && loaded->warmup) {
      if (auto w = loaded->warmup(); !w.ok()) return w.error();
    }
    return loaded;
  } catch (const std::exception& ex) {
    return Error(ErrorCode::model_load_failed, "provider '" + provider.id() + "' threw: " + ex.what());
  } catch (...) {
    return Error(ErrorCode::model_load_failed, "provider '" + provider.id() + "' threw");
  }
}

Result<AcquiredModel> ModelRegistry::run_load(Entry& e, const ModelSpec& spec, ModelProvider& provider,
                                              const LoadControl& control) {
  const auto started = std::chrono::steady_clock::now();
  spdlog::info("loading {} ({})", display_name(spec), e.key.to_string());
  Result<LoadedModel> loaded = call_provider(spec, provider, control);
  const auto duration =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  // A load that failed because this caller's bounds ran out says nothing about the model: the entry
  // goes back to unloaded, and a waiter with time left starts it again.
  const bool abandoned = !loaded.ok() && control.should_stop();

  ModelEvent event{ModelEventKind::loaded, {}};
  Result<AcquiredModel> result = Error(ErrorCode::internal, "unset");
  {
    std::lock_guard lock(e.mu);
    e.load_duration = duration;
    if (abandoned) {
      e.state = ModelState::unloaded;
      result = control.stop_error("loading " + display_name(spec));
    } else if (loaded.ok()) {
      e.model = std::make_shared<const LoadedModel>(std::move(loaded.value()));
      e.loaded_at = std::chrono::system_clock::now();
      result = AcquiredModel{e.model, e.usage};
      e.state = ModelState::loaded;
      event.kind = ModelEventKind::loaded;
    } else {
      e.error = loaded.error();
      e.state = ModelState::failed;
      result = loaded.error();
      event.kind = ModelEventKind::failed;
    }
    event.record = snapshot(e);
    // unload() ran while we were loading: the waiters (who hold the entry) get the model, the
    // registry no longer has the entry, so the model goes with the last of them.
    if (e.removed && e.state == ModelState::loaded) e.state = ModelState::unloaded;
  }
  e.cv.notify_all();

  if (abandoned) {
    spdlog::info("abandoned loading {} after {} ms: {}", e.key.to_string(), duration.count(),
                 result.error().to_string());
    return result;
  }
  if (event.kind == ModelEventKind::loaded)
    spdlog::info("loaded {} in {} ms", e.key.to_string(), duration.count());
  else
    spdlog::warn("failed to load {}: {}", e.key.to_string(), event.record.error->to_string());
  events_.emit(event);
  // Loaded for everyone, but too late for this caller.
  if (result.ok() && control.should_stop()) return control.stop_error("loading " + display_name(spec));
  return result;
}

bool ModelRegistry::unload(const std::string& key) {
  std::shared_ptr<Entry> entry;
  {
    std::unique_lock lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return false;
    entry = std::move(it->second);
    entries_.erase(it);
  }
  ModelEvent event{ModelEventKind::unloaded, {}};
  {
    std::lock_guard lock(entry->mu);
    if (entry->state == ModelState::loading) {
      entry->removed = true;  // the loader finishes, hands the model to its waiters, then drops it
    } else {
      entry->state = ModelState::unloaded;
      entry->model.reset();  // handles still out keep their own reference
    }
    event.record = snapshot(*entry);
    event.record.state = ModelState::unloaded;
  }
  spdlog::info("unloaded {}", key);
  events_.emit(event);
  return true;
}

std::vector<ModelRecord> ModelRegistry::records() const {
  std::vector<std::shared_ptr<Entry>> entries;
  {
    std::shared_lock lock(mu_);
    for (const auto& [k, e] : entries_) entries.push_back(e);
  }
  std::vector<ModelRecord> out;
  out.reserve(entries.size());
  for (const auto& e : entries) {
    std::lock_guard lock(e->mu);
    out.push_back(snapshot(*e));
  }
  return out;
}

std::optional<ModelRecord> ModelRegistry::record(const std::string& key) const {
  std::shared_ptr<Entry> entry;
  {
    std::shared_lock lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    entry = it->second;
  }
  std::lock_guard lock(entry->mu);
  return snapshot(*entry);
}

}  // namespace xervo
