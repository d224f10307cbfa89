#include "server/telemetry.h"

#include <fmt/format.h>

#include "core/log.h"
#include "net/http_client.h"

namespace xervo::server {

Telemetry::Telemetry(const TelemetryOptions& options, SpanExporter::Send send)
    : sampler_(options.sampler, options.sampler_ratio) {
  if (!options.enabled) return;
  exporter_ = std::make_shared<SpanExporter>(options, std::move(send));
  spdlog::info("tracing: spans of service '{}' go to {} (OTLP/HTTP {}, sampler {}{})", options.service_name,
               net::redact_url(options.traces_endpoint),
               options.protocol == "http/protobuf" ? "protobuf" : "JSON", options.sampler,
               options.sampler.ends_with("traceidratio") ? fmt::format(" {}", options.sampler_ratio) : "");
}

Telemetry::~Telemetry() { stop(); }

void Telemetry::stop() {
  if (exporter_) exporter_->stop();
}

trace::Span Telemetry::start_request_span(const HttpRequest& req) const {
  // A malformed traceparent is ignored (a new trace starts), as W3C Trace Context asks; so is the
  // tracestate of a request whose traceparent was not valid.
  std::optional<trace::SpanContext> parent = trace::parse_traceparent(req.header("traceparent"));
  if (parent) parent->tracestate = trace::parse_tracestate(req.header("tracestate"));
  trace::Span span = start_span_under(parent, req.method, trace::SpanKind::server);
  if (span.recording()) {
    span.set("http.request.method", req.method);
    span.set("url.path", req.path);
    span.set("client.address", req.remote_addr);
    if (auto ua = req.header("User-Agent"); !ua.empty()) span.set("user_agent.original", ua);
  }
  return span;
}

trace::Span Telemetry::start_span_under(const std::optional<trace::SpanContext>& parent, std::string name,
                                        trace::SpanKind kind) const {
  const auto start = trace::Clock::now();
  if (!exporter_) return parent ? trace::Span(*parent) : trace::Span();
  const trace::TraceId trace_id = parent ? parent->trace_id : trace::new_trace_id();
  if (!sampler_.should_sample(trace_id, parent)) {
    trace::SpanContext c{trace_id, trace::new_span_id(), false, parent ? parent->tracestate : std::string()};
    return trace::Span(std::move(c));
  }
  trace::SpanRecord r;
  r.trace_id = trace_id;
  r.span_id = trace::new_span_id();
  if (parent) {
    r.parent_span_id = parent->span_id;
    r.tracestate = parent->tracestate;
  }
  r.name = std::move(name);
  r.kind = kind;
  return trace::Span(exporter_, std::move(r), start);
}

namespace {

// gen_ai.operation.name of the routes that run a model (OpenTelemetry's GenAI names).
std::string_view operation_of(std::string_view route) {
  if (route == "/v1/chat/completions" || route == "/v1/messages" || route == "/api/chat" || route == "/v1/ws")
    return "chat";
  if (route == "/v1/completions" || route == "/api/generate") return "text_completion";
  if (route == "/v1/embeddings" || route == "/api/embed" || route == "/api/embeddings") return "embeddings";
  if (route == "/v1/rerank") return "rerank";
  return {};
}

}  // namespace

void end_request_span(trace::Span& span, const RequestSummary& r) {
  if (span.recording()) {
    if (!r.route.empty() && r.route != "other") {
      span.set_name(std::string(r.method) + " " + std::string(r.route));
      span.set("http.route", std::string(r.route));
    }
    span.set("http.response.status_code", static_cast<int64_t>(r.status));
    span.set("xervo.request_id", std::string(r.request_id));
    if (!r.model.empty()) {
      if (auto op = operation_of(r.route); !op.empty()) span.set("gen_ai.operation.name", std::string(op));
      span.set("gen_ai.request.model", std::string(r.model));
      span.set("gen_ai.usage.input_tokens", r.tokens_in);
      if (r.tokens_out > 0) span.set("gen_ai.usage.output_tokens", r.tokens_out);
    }
    // OpenTelemetry's HTTP conventions: a server span is an error for 5xx only (4xx is the client's).
    if (r.status >= 500) span.set_error("HTTP " + std::to_string(r.status));
  }
  span.end();
}

std::string Telemetry::metrics() const {
  const SpanExporter::Stats s = exporter_ ? exporter_->stats() : SpanExporter::Stats{};
  std::string out;
  out +=
      "# HELP xervo_trace_enabled Whether spans are exported (1) or not (0).\n"
      "# TYPE xervo_trace_enabled gauge\n";
  out += fmt::format("xervo_trace_enabled {}\n", exporter_ ? 1 : 0);
  out +=
      "# HELP xervo_trace_spans_exported_total Spans the collector accepted.\n"
      "# TYPE xervo_trace_spans_exported_total counter\n";
  out += fmt::format("xervo_trace_spans_exported_total {}\n", s.exported);
  out +=
      "# HELP xervo_trace_spans_dropped_total Spans dropped instead of exported, by reason.\n"
      "# TYPE xervo_trace_spans_dropped_total counter\n";
  out += fmt::format(
      "xervo_trace_spans_dropped_total{{reason=\"queue_full\"}} {}\n"
      "xervo_trace_spans_dropped_total{{reason=\"export_failed\"}} {}\n"
      "xervo_trace_spans_dropped_total{{reason=\"rejected\"}} {}\n"
      "xervo_trace_spans_dropped_total{{reason=\"shutdown\"}} {}\n",
      s.dropped_queue_full, s.dropped_export, s.dropped_rejected, s.dropped_shutdown);
  out +=
      "# HELP xervo_trace_export_requests_total Export requests sent to the collector, by result.\n"
      "# TYPE xervo_trace_export_requests_total counter\n";
  out += fmt::format(
      "xervo_trace_export_requests_total{{result=\"ok\"}} {}\n"
      "xervo_trace_export_requests_total{{result=\"failed\"}} {}\n",
      s.export_requests - s.export_failures, s.export_failures);
  out +=
      "# HELP xervo_trace_queue_spans Spans waiting for export.\n"
      "# TYPE xervo_trace_queue_spans gauge\n";
  out += fmt::format("xervo_trace_queue_spans {}\n", s.queued);
  return out;
}

}  // namespace xervo::server
