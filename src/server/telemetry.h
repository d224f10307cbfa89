// The server's tracing: the span of each HTTP request (a child of the client's `traceparent` when it
// sent a valid one, sampled by the configured sampler) and the exporter its spans go to, plus the
// exporter's Prometheus counters. With tracing off a client's trace context still passes through to
// remote providers unchanged, and nothing is recorded. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/trace.h"
#include "server/http_message.h"
#include "server/telemetry_exporter.h"
#include "server/telemetry_sampler.h"
#include "xervo/telemetry.h"

namespace xervo::server {

// What the end of a request adds to its span: http.route (and the span's name "METHOD ROUTE"),
// http.response.status_code, and the GenAI attributes of the model it used.
struct RequestSummary {
  std::string_view method;
  std::string_view route;  // the bounded route label; "other" when unknown
  std::string_view model;  // alias or model id; empty when none
  std::string_view request_id;
  int status = 200;
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
};
void end_request_span(trace::Span& span, const RequestSummary& summary);

class Telemetry {
 public:
  // Starts the exporter when options.enabled. `send` replaces the HTTP export (tests).
  explicit Telemetry(const TelemetryOptions& options, SpanExporter::Send send = {});
  ~Telemetry();

  bool enabled() const { return exporter_ != nullptr; }
  // The server span of `req`, started now; end_request_span() names it and ends it.
  trace::Span start_request_span(const HttpRequest& req) const;
  // A span started now that is a child of `parent` (from another process, a WebSocket upgrade, a
  // batch) or the root of a new trace, sampled like a request's: work that does not arrive as its own
  // HTTP request (a WebSocket generation, a batch and its lines).
  trace::Span start_span_under(const std::optional<trace::SpanContext>& parent, std::string name,
                               trace::SpanKind kind) const;
  // Sends what is queued and ends the exporter (Server::stop).
  void stop();
  // xervo_trace_* series (always present: zeros with tracing off).
  std::string metrics() const;

 private:
  std::shared_ptr<SpanExporter> exporter_;
  TraceSampler sampler_;
};

}  // namespace xervo::server
