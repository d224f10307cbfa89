// The sampling decision for a request's trace, made once at its root span with OpenTelemetry's
// samplers: always_on, always_off, traceidratio (a share of traces, decided by the trace id alone so
// that every process of a trace agrees), and parentbased_* (a client's traceparent decides by its
// sampled flag; without one the named root sampler does). Immutable; safe from any thread.
#pragma once

#include <optional>
#include <string>

#include "core/trace.h"

namespace xervo::server {

class TraceSampler {
 public:
  // `name` is one of the six names (checked by parse_telemetry_options); `ratio` in [0, 1].
  TraceSampler(const std::string& name, double ratio);

  // Whether the trace of `trace_id` is recorded; `parent` is the client's context, if it sent one.
  bool should_sample(const trace::TraceId& trace_id, const std::optional<trace::SpanContext>& parent) const;

 private:
  enum class Root { on, off, ratio };
  bool parent_based_ = false;
  Root root_ = Root::on;
  uint64_t threshold_ = 0;  // traceidratio: sampled when the id's last 56 bits are below it
};

}  // namespace xervo::server
