#include "core/registry.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "core/log.h"
#include "core/trace.h"

namespace xervo {
namespace {

// How long a load with no deadline of its own waits for memory to free.
constexpr auto kDefaultMemoryWait = std::chrono::seconds(60);
// Failed records kept for /v1/runtime/models; older ones are dropped so that clients naming ids that
// do not load cannot grow the registry without bound.
constexpr size_t kMaxFailedEntries = 64;

int64_t ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
std::chrono::steady_clock::time_point from_ns(int64_t v) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(v));
}

// Resident set size of this process (the load's cross-check); 0 where /proc is missing.
int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGE_SIZE));
}

// A loaded model together with its charge on the budget: the charge is released only when the
// model itself is destroyed (the last handle gone), not when the registry lets go of it.
struct ChargedModel {
  std::shared_ptr<MemoryBudget::Charge> charge;  // declared first: destroyed after the model
  LoadedModel model;
};

}  // namespace

void ModelUsage::touch() {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  last_used_ms.store(now.count(), std::memory_order_relaxed);
}

ModelLease::ModelLease(std::shared_ptr<ModelUsage> usage, std::shared_ptr<const LeaseContext> context)
    : usage_(std::move(usage)), context_(std::move(context)) {
  usage_->handles.fetch_add(1, std::memory_order_acq_rel);
}

ModelLease::~ModelLease() {
  usage_->idle_since_ns.store(ns(context_->clock()), std::memory_order_release);
  if (usage_->handles.fetch_sub(1, std::memory_order_acq_rel) == 1) context_->budget->notify();
}

ModelRegistry::ModelRegistry(const EventBus& events, MemoryBudget::Limits limits, SteadyClock clock)
    : events_(events),
      clock_(std::move(clock)),
      budget_(MemoryBudget::create(limits)),
      lease_context_(std::make_shared<const LeaseContext>(LeaseContext{clock_, budget_})) {}

AcquiredModel ModelRegistry::lease(Entry& e) const {
  return AcquiredModel{e.model, e.usage, std::make_shared<ModelLease>(e.usage, lease_context_)};
}

bool ModelRegistry::idle(const Entry& e) const {
  return e.state == ModelState::loaded && !e.pinned && e.usage->handles.load(std::memory_order_acquire) == 0;
}

bool ModelRegistry::expired(const Entry& e, std::chrono::steady_clock::time_point now) const {
  if (!idle(e) || e.keep_alive.count() < 0) return false;
  return from_ns(e.usage->idle_since_ns.load(std::memory_order_acquire)) + e.keep_alive <= now;
}

ModelRecord ModelRegistry::snapshot(const Entry& e) const {
  ModelRecord r;
  r.key = e.key;
  r.task = e.key.task;
  r.aliases = e.aliases;
  r.state = e.state;
  r.error = e.error;
  r.load_duration = e.load_duration;
  if (e.model) {
    r.memory_bytes = e.model->memory_bytes ? e.model->memory_bytes : e.model->memory.total();
    r.measured = e.model->memory;
    r.placement = e.model->placement;
  }
  r.estimated = e.estimated;
  r.rss_delta_bytes = e.rss_delta;
  if (auto charge = e.charge.lock()) r.charged_bytes = charge->bytes();
  r.pinned = e.pinned;
  r.keep_alive = e.keep_alive;
  if (idle(e) && e.keep_alive.count() >= 0) {
    auto due = from_ns(e.usage->idle_since_ns.load(std::memory_order_acquire)) + e.keep_alive;
    r.expires_at = std::chrono::system_clock::now() +
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(due - clock_());
  }
  r.loaded_at = e.loaded_at;
  r.last_used = std::chrono::system_clock::time_point(
      std::chrono::milliseconds(e.usage->last_used_ms.load(std::memory_order_relaxed)));
  r.in_flight = e.usage->in_flight.load(std::memory_order_relaxed);
  r.handles = e.usage->handles.load(std::memory_order_relaxed);
  r.load_count = e.load_count;
  r.waiting = e.waiting;
  return r;
}

std::shared_ptr<ModelRegistry::Entry> ModelRegistry::find_or_create(const ModelKey& key) {
  const std::string k = key.to_string();
  if (auto e = find(k)) return e;
  std::unique_lock lock(mu_);
  auto [it, inserted] = entries_.try_emplace(k, nullptr);
  if (inserted) it->second = std::make_shared<Entry>(key);
  return it->second;
}

std::shared_ptr<ModelRegistry::Entry> ModelRegistry::find(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<ModelRegistry::Entry>> ModelRegistry::all_entries() const {
  std::shared_lock lock(mu_);
  std::vector<std::shared_ptr<Entry>> out;
  out.reserve(entries_.size());
  for (const auto& [k, e] : entries_) out.push_back(e);
  return out;
}

namespace {
void note_alias(std::vector<std::string>& aliases, const std::string& alias) {
  if (!alias.empty() && std::find(aliases.begin(), aliases.end(), alias) == aliases.end())
    aliases.push_back(alias);
}
}  // namespace

std::optional<AcquiredModel> ModelRegistry::try_acquire(const ModelSpec& spec, const LoadPolicy& policy) {
  auto entry = find(make_model_key(spec).to_string());
  if (!entry) return std::nullopt;
  std::lock_guard lock(entry->mu);
  if (entry->state != ModelState::loaded) return std::nullopt;
  note_alias(entry->aliases, spec.alias);
  if (policy.pin) entry->pinned = true;
  if (policy.keep_alive_override) entry->keep_alive = *policy.keep_alive_override;
  return lease(*entry);
}

Result<AcquiredModel> ModelRegistry::acquire(const ModelSpec& spec, ModelProvider& provider,
                                             const LoadControl& control, const LoadPolicy& policy) {
  for (;;) {
    std::shared_ptr<Entry> entry = find_or_create(make_model_key(spec));
    Entry& e = *entry;
    std::unique_lock lock(e.mu);
    note_alias(e.aliases, spec.alias);
    if (e.state == ModelState::loaded) {
      if (policy.pin) e.pinned = true;
      if (policy.keep_alive_override) e.keep_alive = *policy.keep_alive_override;
      return lease(e);
    }
    if (e.state == ModelState::loading) {
      if (auto outcome = wait_for_load(e, lock, spec, control)) return std::move(*outcome);
      continue;  // a newer attempt started, the load was abandoned or the model unloaded: again
    }
    if (control.should_stop()) return control.stop_error("loading " + display_name(spec));
    e.state = ModelState::loading;
    e.error.reset();
    e.removed = false;
    e.pinned = e.pinned || policy.pin;
    e.keep_alive = policy.keep_alive_override.value_or(policy.keep_alive);
    ++e.load_count;
    lock.unlock();
    return run_load(e, spec, provider, control, policy);  // `entry` keeps e alive
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
  if (e.state == ModelState::loaded || (e.removed && e.model)) return lease(e);
  if (e.state == ModelState::failed && e.error) return *e.error;
  return std::nullopt;
}

Result<LoadedModel> ModelRegistry::call_provider(Entry& e, const ModelSpec& spec, ModelProvider& provider,
                                                 const LoadControl& control) {
  // An engine that reports progress can stop midway: the callback says whether to go on. Progress
  // becomes `loading` events, one per stage and per tenth.
  float reported = -1;
  std::string stage_reported;
  ProgressCallback progress = [&](float fraction, std::string_view stage) {
    if (stage != stage_reported || fraction >= reported + 0.1f || (fraction >= 1.0f && reported < 1.0f)) {
      reported = fraction;
      stage_reported = std::string(stage);
      ModelEvent event;
      event.kind = ModelEventKind::loading;
      {
        std::lock_guard lock(e.mu);
        event.record = snapshot(e);
      }
      event.progress = fraction;
      event.stage = stage_reported;
      events_.emit(event);
    }
    return !control.should_stop();
  };
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

namespace {
Result<MemoryEstimate> call_estimate(const ModelSpec& spec, ModelProvider& provider,
                                     const LoadControl& control) {
  try {
    return provider.estimate(spec, control);
  } catch (const std::exception& ex) {
    return Error(ErrorCode::model_load_failed,
                 "provider '" + provider.id() + "' threw while estimating memory: " + ex.what());
  } catch (...) {
    return Error(ErrorCode::model_load_failed,
                 "provider '" + provider.id() + "' threw while estimating memory");
  }
}
}  // namespace

Result<AcquiredModel> ModelRegistry::run_load(Entry& e, const ModelSpec& spec, ModelProvider& provider,
                                              const LoadControl& control, const LoadPolicy& policy) {
  const auto started = std::chrono::steady_clock::now();
  const std::string key = e.key.to_string();
  trace::Span span = trace::start_span("load");
  span.set("xervo.model.key", key);
  spdlog::info("loading {} ({})", display_name(spec), key);
  Result<LoadedModel> loaded = Error(ErrorCode::internal, "unset");
  std::shared_ptr<MemoryBudget::Charge> charge;
  int64_t rss_delta = 0;
  auto estimate = call_estimate(spec, provider, control);
  if (!estimate) {
    loaded = estimate.error();
  } else {
    {
      std::lock_guard lock(e.mu);
      e.estimated = *estimate;
    }
    auto reserved = reserve(spec, key, MemoryBudget::Claim::of(*estimate), control, policy);
    if (!reserved) {
      loaded = reserved.error();
    } else {
      charge = std::move(*reserved);
      const int64_t rss_before = resident_bytes();
      loaded = call_provider(e, spec, provider, control);
      rss_delta = resident_bytes() - rss_before;
    }
  }
  const auto duration =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  // A load that failed because this caller's bounds ran out says nothing about the model: the entry
  // goes back to unloaded, and a waiter with time left starts it again.
  const bool abandoned =
      !loaded.ok() && control.should_stop() && loaded.error().code() != ErrorCode::insufficient_memory;

  ModelEvent event;
  event.kind = ModelEventKind::loaded;
  Result<AcquiredModel> result = Error(ErrorCode::internal, "unset");
  {
    std::lock_guard lock(e.mu);
    e.load_duration = duration;
    if (abandoned) {
      e.state = ModelState::unloaded;
      result = control.stop_error("loading " + display_name(spec));
    } else if (loaded.ok()) {
      const uint64_t measured = loaded->memory_bytes ? loaded->memory_bytes : loaded->memory.total();
      if (measured > 0) {
        const uint64_t on_devices = loaded->memory.device_total();
        charge->resize({measured > on_devices ? measured - on_devices : 0, loaded->memory.devices});
      }
      auto holder = std::make_shared<ChargedModel>(ChargedModel{charge, std::move(loaded.value())});
      e.charge = charge;
      e.model = std::shared_ptr<const LoadedModel>(holder, &holder->model);
      e.loaded_at = std::chrono::system_clock::now();
      e.rss_delta = rss_delta;
      e.usage->idle_since_ns.store(ns(clock_()), std::memory_order_release);
      e.state = ModelState::loaded;
      result = lease(e);
      event.kind = ModelEventKind::loaded;
    } else {
      e.error = loaded.error();
      e.state = ModelState::failed;
      e.failed_at = clock_();
      result = loaded.error();
      event.kind = ModelEventKind::failed;
    }
    event.record = snapshot(e);
    // unload() ran while we were loading: the waiters (who hold the entry) get the model, the
    // registry no longer has the entry, so the model goes with the last of them.
    if (e.removed && e.state == ModelState::loaded) e.state = ModelState::unloaded;
  }
  charge.reset();
  e.cv.notify_all();
  if (!result.ok()) span.set_error(result.error().message());

  if (abandoned) {
    spdlog::info("abandoned loading {} after {} ms: {}", key, duration.count(), result.error().to_string());
    return result;
  }
  if (event.kind == ModelEventKind::loaded) {
    spdlog::info("loaded {} in {} ms ({} measured, {} estimated, RSS {:+} MiB)", key, duration.count(),
                 format_bytes(event.record.memory_bytes), format_bytes(event.record.estimated.total()),
                 rss_delta / (1024 * 1024));
  } else {
    spdlog::warn("failed to load {}: {}", key, event.record.error->to_string());
  }
  events_.emit(event);
  if (event.kind == ModelEventKind::failed) drop_old_failures();
  // Loaded for everyone, but too late for this caller.
  if (result.ok() && control.should_stop()) return control.stop_error("loading " + display_name(spec));
  return result;
}

Result<std::shared_ptr<MemoryBudget::Charge>> ModelRegistry::reserve(const ModelSpec& spec,
                                                                     const std::string& key,
                                                                     const MemoryBudget::Claim& claim,
                                                                     const LoadControl& control,
                                                                     const LoadPolicy& policy) {
  if (!budget_->could_fit(claim)) return insufficient_memory(spec, key, claim);
  const auto deadline = control.deadline.value_or(std::chrono::steady_clock::now() + kDefaultMemoryWait);
  for (;;) {
    const uint64_t generation = budget_->usage().generation;
    if (auto charge = budget_->try_take(claim)) return charge;
    if (evict_one(claim, key, policy.protect)) continue;
    if (!policy.wait_for_memory || !could_free(claim, key)) return insufficient_memory(spec, key, claim);
    if (!budget_->wait_for_change(generation, deadline, control.cancel)) {
      if (control.cancel.stop_requested()) return control.stop_error("waiting for memory to load " + key);
      return insufficient_memory(spec, key, claim);
    }
  }
}

bool ModelRegistry::evict_one(const MemoryBudget::Claim& claim, const std::string& self,
                              const std::string& protect) {
  const auto usage = budget_->usage();
  const bool need_slot = usage.limits.max_loaded > 0 && usage.slots + 1 > usage.limits.max_loaded;
  std::string victim;
  int64_t oldest = 0;
  for (const auto& e : all_entries()) {
    const std::string k = e->key.to_string();
    if (k == self || k == protect) continue;
    std::lock_guard lock(e->mu);
    if (!idle(*e)) continue;
    auto charge = e->charge.lock();
    if (!need_slot && (!charge || !budget_->relieves(charge->claim(), claim))) continue;  // frees nothing short
    const int64_t since = e->usage->idle_since_ns.load(std::memory_order_acquire);
    if (victim.empty() || since < oldest) {
      victim = k;
      oldest = since;
    }
  }
  if (victim.empty()) return false;
  // Lost a race with a new handle: go around, the caller picks again.
  unload_if_idle(victim, UnloadReason::evicted);
  return true;
}

bool ModelRegistry::could_free(const MemoryBudget::Claim& claim, const std::string& self) const {
  // Waiting helps only while something that is not pinned holds memory and will let go of it: a
  // busy model, a load in progress, an unloaded model whose handles are still out, or a model that
  // went idle since evict_one looked. And only if, once all of that is free, the pinned models
  // leave room.
  MemoryBudget::Claim pinned;
  int64_t pinned_slots = 0, mapped_slots = 0;
  bool busy = false;
  for (const auto& e : all_entries()) {
    if (e->key.to_string() == self) continue;
    std::lock_guard lock(e->mu);
    if (e->state == ModelState::loading) busy = true;
    auto charge = e->charge.lock();
    if (!charge) continue;
    ++mapped_slots;
    if (e->state == ModelState::loaded && e->pinned) {
      const auto held = charge->claim();
      pinned.host += held.host;
      for (const auto& [device, bytes] : held.devices) pinned.devices[device] += bytes;
      ++pinned_slots;
    } else {
      busy = true;  // busy now, or went idle since evict_one looked: going around evicts it
    }
  }
  const auto usage = budget_->usage();
  if (usage.slots > mapped_slots) busy = true;  // loads in progress and models draining
  if (!busy) return false;
  if (usage.limits.max_loaded > 0 && pinned_slots + 1 > usage.limits.max_loaded) return false;
  return budget_->fits_beside(pinned, claim);
}

Error ModelRegistry::insufficient_memory(const ModelSpec& spec, const std::string& key,
                                         const MemoryBudget::Claim& claim) const {
  std::string holders;
  for (const auto& e : all_entries()) {
    if (e->key.to_string() == key) continue;
    std::lock_guard lock(e->mu);
    auto charge = e->charge.lock();
    if (!charge || e->state == ModelState::unloaded) continue;
    std::string name = e->aliases.empty() ? e->key.model : e->aliases.front();
    std::string why = e->pinned ? "pinned"
                      : e->usage->handles.load() > 0
                          ? "busy: " + std::to_string(e->usage->handles.load()) + " in use"
                          : std::string(to_string(e->state));
    holders += (holders.empty() ? "" : ", ") + name + " (" + format_bytes(charge->bytes()) + ", " + why + ")";
  }
  const auto usage = budget_->usage();
  const uint64_t draining = [&] {
    uint64_t held = 0;
    for (const auto& e : all_entries()) {
      std::lock_guard lock(e->mu);
      if (auto charge = e->charge.lock(); charge && e->state != ModelState::unloaded) held += charge->bytes();
    }
    return usage.used > held ? usage.used - held : 0;
  }();
  if (draining > 0)
    holders +=
        (holders.empty() ? "" : ", ") + format_bytes(draining) + " held by unloaded models still in use";
  return Error(
      ErrorCode::insufficient_memory,
      "cannot load " + display_name(spec) + ": " + budget_->shortfall(claim) +
          (holders.empty() ? "" : " (held by: " + holders + ")") +
          (budget_->could_fit(claim)
               ? "; raise [runtime] memory_budget, device_memory_budget or max_loaded, unpin a model, or retry "
                 "when calls finish"
               : "; raise [runtime] memory_budget or device_memory_budget, or make the model smaller "
                 "(context_size, parallel, gpu_layers or a smaller quantization)"));
}

bool ModelRegistry::unload_if_idle(const std::string& key, UnloadReason reason) {
  std::shared_ptr<Entry> entry;
  std::shared_ptr<const LoadedModel> model;  // freed after every lock is released
  ModelEvent event;
  event.kind = ModelEventKind::unloaded;
  {
    std::unique_lock lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return false;
    entry = it->second;
    std::lock_guard entry_lock(entry->mu);
    if (reason == UnloadReason::expired ? !expired(*entry, clock_()) : !idle(*entry)) return false;
    entries_.erase(it);
    model = std::move(entry->model);
    entry->state = ModelState::unloaded;
    event.record = snapshot(*entry);
  }
  event.reason = reason;
  spdlog::info("unloaded {} ({})", key, to_string(reason));
  model.reset();
  events_.emit(event);
  return true;
}

bool ModelRegistry::unload(const std::string& key, UnloadReason reason) {
  std::shared_ptr<Entry> entry;
  {
    std::unique_lock lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return false;
    entry = std::move(it->second);
    entries_.erase(it);
  }
  ModelEvent event;
  event.kind = ModelEventKind::unloaded;
  std::shared_ptr<const LoadedModel> model;
  {
    std::lock_guard lock(entry->mu);
    if (entry->state == ModelState::loading) {
      entry->removed = true;  // the loader finishes, hands the model to its waiters, then drops it
    } else {
      entry->state = ModelState::unloaded;
      model = std::move(entry->model);  // handles still out keep their own reference
    }
    event.record = snapshot(*entry);
    event.record.state = ModelState::unloaded;
  }
  event.reason = reason;
  spdlog::info("unloaded {} ({})", key, to_string(reason));
  model.reset();
  events_.emit(event);
  return true;
}

void ModelRegistry::unload_all(UnloadReason reason) {
  std::vector<std::string> keys;
  {
    std::shared_lock lock(mu_);
    for (const auto& [k, e] : entries_) keys.push_back(k);
  }
  for (const auto& k : keys) unload(k, reason);
}

void ModelRegistry::drop_old_failures() {
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::string>> failed;
  for (const auto& e : all_entries()) {
    std::lock_guard lock(e->mu);
    if (e->state == ModelState::failed) failed.emplace_back(e->failed_at, e->key.to_string());
  }
  if (failed.size() <= kMaxFailedEntries) return;
  std::sort(failed.begin(), failed.end());
  for (size_t i = 0; i + kMaxFailedEntries < failed.size(); ++i) {
    auto entry = find(failed[i].second);
    if (!entry) continue;
    {
      std::lock_guard lock(entry->mu);
      if (entry->state != ModelState::failed) continue;
    }
    unload(failed[i].second, UnloadReason::failed);
  }
}

bool ModelRegistry::set_pinned(const std::string& key, bool pinned) {
  auto entry = find(key);
  if (!entry) return false;
  {
    std::lock_guard lock(entry->mu);
    entry->pinned = pinned;
  }
  budget_->notify();  // an unpinned model may be what a waiting load can evict
  return true;
}

bool ModelRegistry::set_keep_alive(const std::string& key, std::chrono::milliseconds keep_alive) {
  auto entry = find(key);
  if (!entry) return false;
  {
    std::lock_guard lock(entry->mu);
    entry->keep_alive = keep_alive;
  }
  budget_->notify();  // wakes the reaper
  return true;
}

size_t ModelRegistry::expire_idle() {
  const auto now = clock_();
  std::vector<std::string> due;
  for (const auto& e : all_entries()) {
    std::lock_guard lock(e->mu);
    if (expired(*e, now)) due.push_back(e->key.to_string());
  }
  size_t n = 0;
  for (const auto& k : due) n += unload_if_idle(k, UnloadReason::expired) ? 1 : 0;
  return n;
}

std::optional<std::chrono::steady_clock::time_point> ModelRegistry::next_expiry() const {
  std::optional<std::chrono::steady_clock::time_point> next;
  for (const auto& e : all_entries()) {
    std::lock_guard lock(e->mu);
    if (!idle(*e) || e->keep_alive.count() < 0) continue;
    auto due = from_ns(e->usage->idle_since_ns.load(std::memory_order_acquire)) + e->keep_alive;
    if (!next || due < *next) next = due;
  }
  return next;
}

MemoryStatus ModelRegistry::memory_status() const {
  const auto usage = budget_->usage();
  MemoryStatus s;
  s.budget = usage.limits.bytes;
  s.used = usage.used;
  s.max_loaded = usage.limits.max_loaded;
  s.loaded = usage.slots;
  std::map<std::string, MemoryStatus::Device> devices;
  for (const auto& [name, limit] : usage.limits.devices)
    if (name != "*") devices[name] = {name, limit, 0};
  for (const auto& [name, used] : usage.device_used) devices[name] = {name, usage.limits.device_limit(name), used};
  for (auto& [name, d] : devices) s.devices.push_back(std::move(d));
  return s;
}

void ModelRegistry::set_limits(MemoryBudget::Limits limits) { budget_->set_limits(limits); }

std::vector<ModelRecord> ModelRegistry::records() const {
  std::vector<ModelRecord> out;
  for (const auto& e : all_entries()) {
    std::lock_guard lock(e->mu);
    out.push_back(snapshot(*e));
  }
  return out;
}

std::optional<ModelRecord> ModelRegistry::record(const std::string& key) const {
  auto entry = find(key);
  if (!entry) return std::nullopt;
  std::lock_guard lock(entry->mu);
  return snapshot(*entry);
}

}  // namespace xervo
