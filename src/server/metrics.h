// Prometheus metrics of the server: requests by route, model and status, latency histograms,
// tokens in and out, queue depth, loaded models, the memory budget and what is used of it, model load
// durations, failures, unloads by reason, evictions and swaps (fed by the runtime's lifecycle events).
// Rendered in the Prometheus text format (version 0.0.4).
// Label values come from bounded sets (route patterns, configured aliases and their model keys, else
// "other"), so clients naming many models or paths add no series.
// Thread-safe: one mutex guards the counters and the label sets.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "xervo/runtime.h"

namespace xervo::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double value);
  void merge(const Histogram& other);  // same bounds (every histogram of one metric has them)
  // Appends `name_bucket{labels,le=...}`, `name_sum`, `name_count` lines.
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last one is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  // Takes the label sets from the runtime's configured aliases (fixed once the runtime is built):
  // the first call does it, later calls return at once. Until then every model and key keeps its
  // own label, which is safe only because nothing but configured aliases can have been served or
  // loaded before the first request. After it, a model label is its alias and a key label its
  // model key when an alias has that name or key; anything else is "other". After
  // refresh_model_labels() the next call adds the aliases and keys configured by then (a swap or a
  // reload changes them); labels are never removed, and only configured names ever become one.
  void learn_model_labels(const ModelRuntime& runtime);
  void refresh_model_labels() { labels_stale_ = true; }

  void observe_request(std::string_view route, std::string_view model, int status, double seconds);
  void observe_first_token(std::string_view model, double seconds);
  // Time per output token after the first: (last piece - first piece) / (output tokens - 1).
  void observe_time_per_output_token(std::string_view model, double seconds);
  // Time a request waited in a scheduler's queue for a slot (the llama.cpp engines).
  void observe_queue_wait(std::string_view model, double seconds);
  void add_tokens(std::string_view model, int64_t tokens_in, int64_t tokens_out);
  // "auth", "scope", "rate_limit", "queue_full", "too_large", "model_id"
  void rejected(std::string_view reason);
  void observe_model_event(const ModelEvent& event);
  // WebSocket connections of GET /v1/ws open now (the xervo_websocket_connections gauge).
  void websocket_opened() { websockets_.fetch_add(1); }
  void websocket_closed() { websockets_.fetch_sub(1); }

  // queue_depth: requests admitted per model right now.
  std::string render(const std::vector<ModelRecord>& records, const MemoryStatus& memory,
                     const std::map<std::string, int64_t>& queue_depth) const;

 private:
  std::string model_label(std::string_view model) const;  // REQUIRES: mu_
  std::string key_label(std::string_view key) const;      // REQUIRES: mu_

  mutable std::mutex mu_;
  std::atomic<bool> labels_known_{false};
  std::atomic<bool> labels_stale_{false};            // a swap or reload may have added aliases and keys
  std::set<std::string, std::less<>> alias_labels_;  // GUARDED_BY(mu_)
  std::set<std::string, std::less<>> key_labels_;    // GUARDED_BY(mu_)
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;  // GUARDED_BY(mu_)
  std::map<std::string, Histogram> latency_;                                // GUARDED_BY(mu_), by route
  std::map<std::string, Histogram> first_token_;                            // GUARDED_BY(mu_), by model
  std::map<std::string, Histogram> per_output_token_;                       // GUARDED_BY(mu_), by model
  std::map<std::string, Histogram> queue_wait_;                             // GUARDED_BY(mu_), by model
  std::map<std::string, std::array<int64_t, 2>> tokens_;             // GUARDED_BY(mu_), in/out by model
  std::map<std::string, uint64_t> rejections_;                       // GUARDED_BY(mu_)
  std::map<std::string, Histogram> load_duration_;                   // GUARDED_BY(mu_), by model key
  std::map<std::string, uint64_t> load_failures_;                    // GUARDED_BY(mu_)
  std::map<std::pair<std::string, std::string>, uint64_t> unloads_;  // GUARDED_BY(mu_), by key, reason
  std::map<std::string, uint64_t> evictions_;                        // GUARDED_BY(mu_), by model key
  std::map<std::string, uint64_t> swaps_;                            // GUARDED_BY(mu_), by alias

  std::atomic<int64_t> websockets_{0};  // open WebSocket connections
};

// Times one generation's output for TTFT and TPOT: piece() at each piece of text (the first one
// observes the time to first token), finish() once with the output token count. Not thread-safe: one
// per generation, used by the thread that streams it.
class GenerationTimer {
 public:
  explicit GenerationTimer(std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now())
      : start_(start) {}
  void piece(Metrics& metrics, std::string_view model);
  void finish(Metrics& metrics, std::string_view model, int64_t output_tokens);

 private:
  std::chrono::steady_clock::time_point start_;
  std::optional<std::chrono::steady_clock::time_point> first_;
  bool finished_ = false;
};

// Escapes a Prometheus label value (backslash, quote, newline).
std::string escape_label(std::string_view value);

}  // namespace xervo::server
