#include "server/metrics.h"

#include <fmt/format.h>

namespace xervo::server {
namespace {

const std::vector<double>& latency_bounds() {
  static const std::vector<double> b{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                     2.5,   5,    10,    30,   60,  120,  300};
  return b;
}
const std::vector<double>& load_bounds() {
  static const std::vector<double> b{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  return b;
}

// Time per output token: a fast decode takes a millisecond or two, a slow one a second.
const std::vector<double>& token_bounds() {
  static const std::vector<double> b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,
                                     0.15,  0.2,    0.3,   0.5,  0.75,  1,    2.5};
  return b;
}

std::string num(double v) { return fmt::format("{}", v); }

void help(std::string& out, std::string_view name, std::string_view type, std::string_view text) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, text, name, type);
}

}  // namespace

std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < counts_.size() && i < other.counts_.size(); ++i) counts_[i] += other.counts_[i];
  sum_ += other.sum_;
  count_ += other.count_;
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, num(bounds_[i]), cumulative);
  }
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, count_);
  std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, num(sum_), name, braces, count_);
}

void Metrics::learn_model_labels(const ModelRuntime& runtime) {
  if (labels_known_.load() && !labels_stale_.load()) return;
  labels_stale_ = false;         // before reading: a change during the read marks it stale again
  auto specs = runtime.specs();  // outside the lock: the runtime takes its own
  std::lock_guard lock(mu_);
  for (const auto& spec : specs) {
    alias_labels_.insert(spec.alias);
    key_labels_.insert(make_model_key(spec).to_string());
  }
  labels_known_ = true;
}

std::string Metrics::model_label(std::string_view model) const {
  if (model.empty() || !labels_known_.load() || alias_labels_.count(model)) return std::string(model);
  return "other";
}

std::string Metrics::key_label(std::string_view key) const {
  if (!labels_known_.load() || key_labels_.count(key)) return std::string(key);
  return "other";
}

void Metrics::observe_request(std::string_view route, std::string_view model, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{std::string(route), model_label(model), status}];
  latency_.try_emplace(std::string(route), latency_bounds()).first->second.observe(seconds);
}

void Metrics::observe_first_token(std::string_view model, double seconds) {
  std::lock_guard lock(mu_);
  first_token_.try_emplace(model_label(model), latency_bounds()).first->second.observe(seconds);
}

void Metrics::observe_time_per_output_token(std::string_view model, double seconds) {
  std::lock_guard lock(mu_);
  per_output_token_.try_emplace(model_label(model), token_bounds()).first->second.observe(seconds);
}

void Metrics::observe_queue_wait(std::string_view model, double seconds) {
  std::lock_guard lock(mu_);
  queue_wait_.try_emplace(model_label(model), latency_bounds()).first->second.observe(seconds);
}

void GenerationTimer::piece(Metrics& metrics, std::string_view model) {
  if (first_) return;
  first_ = std::chrono::steady_clock::now();
  metrics.observe_first_token(model, std::chrono::duration<double>(*first_ - start_).count());
}

void GenerationTimer::finish(Metrics& metrics, std::string_view model, int64_t output_tokens) {
  if (finished_ || !first_ || output_tokens < 2) return;  // one token has no pace
  finished_ = true;
  const double span = std::chrono::duration<double>(std::chrono::steady_clock::now() - *first_).count();
  metrics.observe_time_per_output_token(model, span / static_cast<double>(output_tokens - 1));
}

void Metrics::add_tokens(std::string_view model, int64_t tokens_in, int64_t tokens_out) {
  std::lock_guard lock(mu_);
  auto& t = tokens_[model_label(model)];
  t[0] += tokens_in;
  t[1] += tokens_out;
}

void Metrics::rejected(std::string_view reason) {
  std::lock_guard lock(mu_);
  ++rejections_[std::string(reason)];
}

void Metrics::observe_model_event(const ModelEvent& event) {
  std::lock_guard lock(mu_);
  std::string key = key_label(event.record.key.to_string());
  switch (event.kind) {
    case ModelEventKind::loaded:
      load_duration_.try_emplace(key, load_bounds())
          .first->second.observe(std::chrono::duration<double>(event.record.load_duration).count());
      break;
    case ModelEventKind::failed:
      ++load_failures_[key];
      break;
    case ModelEventKind::unloaded: {
      const auto reason = event.reason ? std::string(to_string(*event.reason)) : "unknown";
      ++unloads_[{key, reason}];
      if (event.reason == UnloadReason::evicted) ++evictions_[key];
      break;
    }
    case ModelEventKind::swapped:
      ++swaps_[event.alias];  // swaps name configured aliases only: a bounded set
      labels_stale_ = true;   // the alias's new key becomes a label
      break;
    case ModelEventKind::loading:
      // A model of an alias added by a reload (SIGHUP) loads before its first request is counted.
      labels_stale_ = true;
      break;
  }
}

std::string Metrics::render(const std::vector<ModelRecord>& records, const MemoryStatus& mem,
                            const std::map<std::string, int64_t>& queue_depth) const {
  std::string out;
  std::lock_guard lock(mu_);
  help(out, "xervo_http_requests_total", "counter", "HTTP requests by route, model and status.");
  for (const auto& [k, n] : requests_)
    out += fmt::format("xervo_http_requests_total{{route=\"{}\",model=\"{}\",status=\"{}\"}} {}\n",
                       escape_label(std::get<0>(k)), escape_label(std::get<1>(k)), std::get<2>(k), n);
  help(out, "xervo_http_request_duration_seconds", "histogram",
       "Time from request to the last byte of the response.");
  for (const auto& [route, h] : latency_)
    h.render(out, "xervo_http_request_duration_seconds", fmt::format("route=\"{}\"", escape_label(route)));
  help(out, "xervo_time_to_first_token_seconds", "histogram",
       "Time from request to the first generated piece.");
  for (const auto& [model, h] : first_token_)
    h.render(out, "xervo_time_to_first_token_seconds", fmt::format("model=\"{}\"", escape_label(model)));
  help(out, "xervo_time_per_output_token_seconds", "histogram",
       "Time per generated token after the first (TPOT), per generation.");
  for (const auto& [model, h] : per_output_token_)
    h.render(out, "xervo_time_per_output_token_seconds", fmt::format("model=\"{}\"", escape_label(model)));
  help(out, "xervo_queue_wait_seconds", "histogram",
       "Time a request waited in a model's scheduler queue for a slot (local engines).");
  for (const auto& [model, h] : queue_wait_)
    h.render(out, "xervo_queue_wait_seconds", fmt::format("model=\"{}\"", escape_label(model)));
  help(out, "xervo_tokens_total", "counter", "Tokens read (in) and generated (out) by model.");
  for (const auto& [model, t] : tokens_) {
    out += fmt::format("xervo_tokens_total{{model=\"{}\",direction=\"in\"}} {}\n", escape_label(model), t[0]);
    out +=
        fmt::format("xervo_tokens_total{{model=\"{}\",direction=\"out\"}} {}\n", escape_label(model), t[1]);
  }
  help(out, "xervo_rejected_requests_total", "counter",
       "Requests refused before reaching a model, by reason.");
  for (const auto& [reason, n] : rejections_)
    out += fmt::format("xervo_rejected_requests_total{{reason=\"{}\"}} {}\n", escape_label(reason), n);
  help(out, "xervo_websocket_connections", "gauge", "WebSocket connections open on GET /v1/ws.");
  out += fmt::format("xervo_websocket_connections {}\n", websockets_.load());
  // Keys are folded again here: events recorded before the labels were known, records and queue
  // depths of models that are not a configured alias's.
  std::map<std::string, int64_t> depth;
  for (const auto& [key, n] : queue_depth) depth[key_label(key)] += n;
  help(out, "xervo_queue_depth", "gauge",
       "Requests admitted to a model and not finished (running or waiting).");
  for (const auto& [key, n] : depth)
    out += fmt::format("xervo_queue_depth{{model=\"{}\"}} {}\n", escape_label(key), n);

  int64_t loaded = 0;
  std::map<std::string, uint64_t> memory;
  std::map<std::string, int64_t> in_flight;
  for (const auto& r : records) {
    std::string key = key_label(r.key.to_string());
    if (r.state == ModelState::loaded) {
      ++loaded;
      memory[key] += r.memory_bytes;
    }
    in_flight[key] += r.in_flight;
  }
  help(out, "xervo_models_loaded", "gauge", "Models loaded now.");
  out += fmt::format("xervo_models_loaded {}\n", loaded);
  help(out, "xervo_models_max_loaded", "gauge",
       "Models that may be loaded (or loading) at once; 0: no limit.");
  out += fmt::format("xervo_models_max_loaded {}\n", mem.max_loaded);
  help(out, "xervo_memory_budget_bytes", "gauge", "Host memory all local models may take together; 0: no budget.");
  out += fmt::format("xervo_memory_budget_bytes {}\n", mem.budget);
  help(out, "xervo_memory_used_bytes", "gauge",
       "Memory of the budget held by loaded and loading models (and unloaded ones still draining).");
  out += fmt::format("xervo_memory_used_bytes {}\n", mem.used);
  help(out, "xervo_memory_physical_bytes", "gauge", "Physical memory of the machine.");
  out += fmt::format("xervo_memory_physical_bytes {}\n", mem.physical);
  help(out, "xervo_device_memory_budget_bytes", "gauge",
       "Memory of each GPU device all models may take on it ([runtime] device_memory_budget); 0: no budget.");
  for (const auto& d : mem.devices)
    out += fmt::format("xervo_device_memory_budget_bytes{{device=\"{}\"}} {}\n", escape_label(d.name), d.budget);
  help(out, "xervo_device_memory_used_bytes", "gauge", "Memory of each GPU device held by loaded models.");
  for (const auto& d : mem.devices)
    out += fmt::format("xervo_device_memory_used_bytes{{device=\"{}\"}} {}\n", escape_label(d.name), d.used);
  help(out, "xervo_model_memory_bytes", "gauge", "Memory estimate of each loaded model.");
  for (const auto& [key, bytes] : memory)
    out += fmt::format("xervo_model_memory_bytes{{key=\"{}\"}} {}\n", escape_label(key), bytes);
  help(out, "xervo_model_in_flight", "gauge", "Calls running on each model now.");
  for (const auto& [key, n] : in_flight)
    out += fmt::format("xervo_model_in_flight{{key=\"{}\"}} {}\n", escape_label(key), n);

  std::map<std::string, Histogram> durations;
  for (const auto& [key, h] : load_duration_)
    durations.try_emplace(key_label(key), load_bounds()).first->second.merge(h);
  help(out, "xervo_model_load_duration_seconds", "histogram", "Duration of successful model loads.");
  for (const auto& [key, h] : durations)
    h.render(out, "xervo_model_load_duration_seconds", fmt::format("key=\"{}\"", escape_label(key)));
  auto counter = [&](std::string_view name, std::string_view text,
                     const std::map<std::string, uint64_t>& by) {
    std::map<std::string, uint64_t> folded;
    for (const auto& [key, n] : by) folded[key_label(key)] += n;
    help(out, name, "counter", text);
    for (const auto& [key, n] : folded)
      out += fmt::format("{}{{key=\"{}\"}} {}\n", name, escape_label(key), n);
  };
  counter("xervo_model_load_failures_total", "Failed model loads.", load_failures_);
  counter("xervo_model_evictions_total", "Idle models unloaded to make room for another load.", evictions_);

  std::map<std::pair<std::string, std::string>, uint64_t> unloads;
  for (const auto& [k, n] : unloads_) unloads[{key_label(k.first), k.second}] += n;
  help(out, "xervo_model_unloads_total", "counter",
       "Model unloads by reason (explicit, evicted, expired, swapped, failed, shutdown).");
  for (const auto& [k, n] : unloads)
    out += fmt::format("xervo_model_unloads_total{{key=\"{}\",reason=\"{}\"}} {}\n", escape_label(k.first),
                       escape_label(k.second), n);
  std::map<std::string, uint64_t> swaps;
  for (const auto& [alias, n] : swaps_) swaps[model_label(alias)] += n;
  help(out, "xervo_model_swaps_total", "counter",
       "Aliases re-pointed at another model (swap, rollback, reload).");
  for (const auto& [alias, n] : swaps)
    out += fmt::format("xervo_model_swaps_total{{alias=\"{}\"}} {}\n", escape_label(alias), n);
  return out;
}

}  // namespace xervo::server
