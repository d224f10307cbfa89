// The span exporter: a bounded queue that request threads hand ended spans to, and one thread that
// sends them in batches (OTLP/HTTP JSON) every export interval or as soon as a batch is full. Nothing
// here ever blocks a request: a full queue drops the new span, a failed or refused export drops its
// batch, and both are counted (xervo_trace_spans_dropped_total). Stopping sends what is queued within
// one export timeout, then drops the rest. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/trace.h"
#include "server/otlp_json.h"
#include "xervo/error.h"
#include "xervo/telemetry.h"

namespace xervo::server {

class SpanExporter final : public trace::SpanSink {
 public:
  // Posts one export body and returns how many of its spans the receiver rejected, or why it failed.
  // The default (empty) posts to options.traces_endpoint with libcurl.
  using Send = std::function<Result<uint64_t>(const std::string& body)>;

  explicit SpanExporter(TelemetryOptions options, Send send = {});
  ~SpanExporter() override;  // stop()
  SpanExporter(const SpanExporter&) = delete;
  SpanExporter& operator=(const SpanExporter&) = delete;

  void submit(trace::SpanRecord span) override;
  // Sends what is queued (for at most export_timeout), ends the thread; later spans are dropped.
  void stop();

  struct Stats {
    uint64_t exported = 0;            // spans the receiver accepted
    uint64_t dropped_queue_full = 0;  // spans that found the queue full
    uint64_t dropped_export = 0;      // spans of batches whose export failed
    uint64_t dropped_rejected = 0;    // spans the receiver refused (partial success)
    uint64_t dropped_shutdown = 0;    // spans still queued when stop() ran out of time
    uint64_t export_requests = 0;     // export requests sent
    uint64_t export_failures = 0;     // of which failed
    size_t queued = 0;                // spans waiting now
  };
  Stats stats() const;

 private:
  void run();
  void export_batch(std::vector<trace::SpanRecord> batch);  // outside mu_
  Result<uint64_t> post(const std::string& body) const;

  const TelemetryOptions options_;
  const OtlpResource resource_;
  const bool protobuf_;  // http/protobuf: the binary encoding (otlp_proto.h); else JSON
  Send send_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<trace::SpanRecord> queue_;                   // GUARDED_BY(mu_)
  bool stopping_ = false;                                 // GUARDED_BY(mu_)
  Stats stats_;                                           // GUARDED_BY(mu_), but `queued`
  std::chrono::steady_clock::time_point last_warning_{};  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace xervo::server
