// Tracing inside xervo: the spans of one request (W3C trace context, OpenTelemetry's data model),
// carried on the thread that does the work. A front door starts a root span with a SpanSink (the
// exporter) and makes it current (ScopedSpan); any layer below starts children with start_span(),
// which knows nothing of the exporter: a span that is not recorded (tracing off, sampled out, no
// current span) costs a branch. Where work moves to another thread, the code that moves it records
// timestamps and the caller's thread turns them into spans (record_span) or carries context() along.
// A Span is owned by one thread at a time; the current span is thread-local; a SpanSink must be
// thread-safe and must never block (the exporter drops and counts instead).
#pragma once

#include <array>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace xervo::trace {

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;
using Clock = std::chrono::steady_clock;

// Identifies a span across processes: what `traceparent` and `tracestate` carry.
struct SpanContext {
  TraceId trace_id{};
  SpanId span_id{};
  bool sampled = false;    // trace-flags bit 0
  std::string tracestate;  // passed on as received (already checked by parse_tracestate)
  bool valid() const;      // both ids non-zero
};

// W3C Trace Context level 1: "00-<32 hex>-<16 hex>-<2 hex>" (lowercase; a later version's header is
// read by its first four fields). nullopt when malformed or an id is all zeros: the caller ignores
// the header, as the specification asks; never an error for the client.
std::optional<SpanContext> parse_traceparent(std::string_view header);
std::string format_traceparent(const SpanContext& context);
// `tracestate` as received when it is well formed (at most 32 list members of key=value, at most
// 512 bytes), else "" (dropped, the specification's advice for a header one cannot parse).
std::string parse_tracestate(std::string_view header);

std::string to_hex(const TraceId& id);
std::string to_hex(const SpanId& id);
TraceId new_trace_id();  // random, non-zero
SpanId new_span_id();    // random, non-zero

// OTLP's numbering (Span.SpanKind, Status.StatusCode).
enum class SpanKind { internal = 1, server = 2, client = 3 };
enum class StatusCode { unset = 0, ok = 1, error = 2 };

using AttributeValue = std::variant<std::string, int64_t, double, bool, std::vector<std::string>>;
struct Attribute {
  std::string key;
  AttributeValue value;
};

// An ended span as the sink gets it. Times are Unix nanoseconds.
struct SpanRecord {
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};  // all zeros: a root (no parent in this process or from the client)
  std::string tracestate;
  std::string name;
  SpanKind kind = SpanKind::internal;
  int64_t start_unix_ns = 0;
  int64_t end_unix_ns = 0;
  std::vector<Attribute> attributes;
  StatusCode status = StatusCode::unset;
  std::string status_message;
};

// Where ended spans go. submit() is called on the request's thread: it must return at once.
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  virtual void submit(SpanRecord span) = 0;
};

// Bounds on what one span holds, so that a client's input cannot grow a span without limit.
inline constexpr size_t kMaxAttributes = 64;
inline constexpr size_t kMaxAttributeBytes = 1024;  // string values are cut there

// A span being timed. A default-constructed Span records nothing; its context() may still carry a
// trace (sampled out, or passed through with tracing off) for propagation. Move-only; ends (and
// goes to its sink) at end() or destruction, whichever is first.
class Span {
 public:
  Span();
  // A recorded span: `sink` gets it when it ends.
  Span(std::shared_ptr<SpanSink> sink, SpanRecord record, Clock::time_point start);
  // Not recorded; carries `context` for propagation only.
  explicit Span(SpanContext context);
  ~Span();
  Span(Span&&) noexcept;
  Span& operator=(Span&&) noexcept;
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

  bool recording() const { return state_ != nullptr; }
  const SpanContext& context() const { return context_; }
  // Replaces an attribute of that key; past kMaxAttributes new keys are ignored.
  Span& set(std::string_view key, AttributeValue value);
  Span& set(std::string_view key, const char* value) { return set(key, AttributeValue(std::string(value))); }
  Span& set(std::string_view key, bool value) { return set(key, AttributeValue(value)); }
  template <std::integral I>
  requires(!std::same_as<I, bool>) Span& set(std::string_view key, I value) {
    return set(key, AttributeValue(static_cast<int64_t>(value)));
  }
  void set_error(std::string_view message);
  void set_name(std::string name);
  void end(std::optional<Clock::time_point> at = std::nullopt);

 private:
  friend Span start_span(std::string_view, SpanKind, std::optional<Clock::time_point>);
  struct State;
  std::unique_ptr<State> state_;
  SpanContext context_;
};

// The span new spans on this thread descend from, for as long as this object lives (nests;
// restores the previous one). `span` must outlive it.
class ScopedSpan {
 public:
  explicit ScopedSpan(const Span& span);
  ~ScopedSpan();
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

 private:
  const Span* previous_;
};

// The current span of this thread; nullptr when none.
const Span* current();
// A child of the current span, recorded when that one is; a non-recording span without one.
Span start_span(std::string_view name, SpanKind kind = SpanKind::internal,
                std::optional<Clock::time_point> start = std::nullopt);
// A child of the current span that already happened (measured on another thread): recorded at once.
void record_span(std::string_view name, Clock::time_point start, Clock::time_point end,
                 std::vector<Attribute> attributes = {});

// The `traceparent` to send with an outgoing request made for `span` (its context's tracestate goes
// with it as `tracestate`); empty when the span carries no trace.
std::string outgoing_traceparent(const Span& span);

// Time this thread's current request spent waiting in schedulers' queues, whether it is traced or
// not: a scheduler adds it on the caller's thread, the front door takes it (and resets it) for its
// metrics. nullopt when nothing was added since the last take.
void add_queue_wait(Clock::duration wait);
std::optional<Clock::duration> take_queue_wait();

// Unix nanoseconds of a steady-clock time point (taken against the wall clock now).
int64_t unix_ns(Clock::time_point at);

}  // namespace xervo::trace
