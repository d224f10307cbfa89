#include "core/trace.h"

#include <algorithm>
#include <random>
#include <utility>
#include "core/text.h"

namespace xervo::trace {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is not allowed by the specification
}

template <size_t N>
bool parse_hex(std::string_view text, std::array<uint8_t, N>& out) {
  if (text.size() != 2 * N) return false;
  for (size_t i = 0; i < N; ++i) {
    int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <size_t N>
bool all_zero(const std::array<uint8_t, N>& id) {
  return std::all_of(id.begin(), id.end(), [](uint8_t b) { return b == 0; });
}

template <size_t N>
std::string hex(const std::array<uint8_t, N>& id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * N, '0');
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = kHex[id[i] >> 4];
    out[2 * i + 1] = kHex[id[i] & 0xf];
  }
  return out;
}

template <size_t N>
std::array<uint8_t, N> random_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::array<uint8_t, N> id{};
  do {
    for (size_t i = 0; i < N; i += 8) {
      uint64_t v = rng();
      for (size_t k = 0; k < 8 && i + k < N; ++k, v >>= 8) id[i + k] = static_cast<uint8_t>(v);
    }
  } while (all_zero(id));
  return id;
}

// tracestate list-member key: lcalpha then up to 255 of lcalpha, digit, _ - * /, optionally with one
// "@" and a vendor part of up to 13 characters (W3C Trace Context, section 3.3.1.3.1).
bool tracestate_key(std::string_view key) {
  if (key.empty() || key.size() > 256) return false;
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/';
  };
  size_t at = key.find('@');
  std::string_view tenant = at == std::string_view::npos ? key : key.substr(0, at);
  if (tenant.empty() || !std::all_of(tenant.begin(), tenant.end(), allowed)) return false;
  if (at == std::string_view::npos) return (key[0] >= 'a' && key[0] <= 'z');
  std::string_view vendor = key.substr(at + 1);
  if (vendor.empty() || vendor.size() > 14 || !(vendor[0] >= 'a' && vendor[0] <= 'z')) return false;
  return std::all_of(vendor.begin(), vendor.end(), allowed);
}

// Value: up to 256 printable ASCII characters except ',' and '=', not ending in a space.
bool tracestate_value(std::string_view value) {
  if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
  return std::all_of(value.begin(), value.end(),
                     [](char c) { return c >= 0x20 && c <= 0x7e && c != ',' && c != '='; });
}

using text::trim;

thread_local const Span* tls_current = nullptr;
thread_local std::optional<Clock::duration> tls_queue_wait;

}  // namespace

bool SpanContext::valid() const { return !all_zero(trace_id) && !all_zero(span_id); }

std::optional<SpanContext> parse_traceparent(std::string_view h) {
  h = trim(h);
  // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55 characters.
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  std::array<uint8_t, 1> version{}, flags{};
  if (!parse_hex(h.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may append "-..." fields we do not read.
  if (version[0] == 0 ? h.size() != 55 : (h.size() > 55 && h[55] != '-')) return std::nullopt;
  SpanContext c;
  if (!parse_hex(h.substr(3, 32), c.trace_id) || !parse_hex(h.substr(36, 16), c.span_id) ||
      !parse_hex(h.substr(53, 2), flags))
    return std::nullopt;
  if (!c.valid()) return std::nullopt;
  c.sampled = flags[0] & 1;
  return c;
}

std::string format_traceparent(const SpanContext& c) {
  return "00-" + hex(c.trace_id) + "-" + hex(c.span_id) + (c.sampled ? "-01" : "-00");
}

std::string parse_tracestate(std::string_view header) {
  if (header.size() > 512) return {};
  size_t members = 0;
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    if (comma == std::string_view::npos) comma = header.size();
    std::string_view member = trim(header.substr(pos, comma - pos));
    pos = comma + 1;
    if (member.empty()) continue;  // empty list members are allowed and skipped
    size_t eq = member.find('=');
    if (eq == std::string_view::npos || !tracestate_key(member.substr(0, eq)) ||
        !tracestate_value(member.substr(eq + 1)) || ++members > 32)
      return {};
  }
  return std::string(trim(header));
}

std::string to_hex(const TraceId& id) { return hex(id); }
std::string to_hex(const SpanId& id) { return hex(id); }
TraceId new_trace_id() { return random_id<16>(); }
SpanId new_span_id() { return random_id<8>(); }

int64_t unix_ns(Clock::time_point at) {
  const auto wall = std::chrono::system_clock::now();
  const auto steady = Clock::now();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(wall.time_since_epoch() - (steady - at))
      .count();
}

// ---------------------------------------------------------------------------------------------------
struct Span::State {
  std::shared_ptr<SpanSink> sink;
  SpanRecord record;
  Clock::time_point start;
};

Span::Span(std::shared_ptr<SpanSink> sink, SpanRecord record, Clock::time_point start)
    : state_(std::make_unique<State>(State{std::move(sink), std::move(record), start})) {
  context_.trace_id = state_->record.trace_id;
  context_.span_id = state_->record.span_id;
  context_.sampled = true;
  context_.tracestate = state_->record.tracestate;
}

Span::Span(SpanContext context) : context_(std::move(context)) {}

Span::Span() = default;
Span::~Span() { end(); }

Span::Span(Span&& other) noexcept : state_(std::move(other.state_)), context_(std::move(other.context_)) {}

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    end();
    state_ = std::move(other.state_);
    context_ = std::move(other.context_);
  }
  return *this;
}

Span& Span::set(std::string_view key, AttributeValue value) {
  if (!state_) return *this;
  if (auto* s = std::get_if<std::string>(&value); s && s->size() > kMaxAttributeBytes) {
    size_t cut = kMaxAttributeBytes;
    while (cut > 0 && (static_cast<unsigned char>((*s)[cut]) & 0xc0) == 0x80) --cut;  // not mid-character
    s->resize(cut);
  }
  auto& attrs = state_->record.attributes;
  for (auto& a : attrs)
    if (a.key == key) {
      a.value = std::move(value);
      return *this;
    }
  if (attrs.size() < kMaxAttributes) attrs.push_back({std::string(key), std::move(value)});
  return *this;
}

void Span::set_error(std::string_view message) {
  if (!state_) return;
  state_->record.status = StatusCode::error;
  state_->record.status_message = std::string(message.substr(0, kMaxAttributeBytes));
}

void Span::set_name(std::string name) {
  if (state_) state_->record.name = std::move(name);
}

void Span::end(std::optional<Clock::time_point> at) {
  if (!state_) return;
  auto state = std::move(state_);
  const Clock::time_point end = at.value_or(Clock::now());
  state->record.start_unix_ns = unix_ns(state->start);
  state->record.end_unix_ns =
      state->record.start_unix_ns +
      std::chrono::duration_cast<std::chrono::nanoseconds>(end - state->start).count();
  if (state->record.end_unix_ns < state->record.start_unix_ns)
    state->record.end_unix_ns = state->record.start_unix_ns;
  state->sink->submit(std::move(state->record));
}

ScopedSpan::ScopedSpan(const Span& span) : previous_(tls_current) { tls_current = &span; }
ScopedSpan::~ScopedSpan() { tls_current = previous_; }

const Span* current() { return tls_current; }

Span start_span(std::string_view name, SpanKind kind, std::optional<Clock::time_point> start) {
  const Span* parent = tls_current;
  if (!parent) return Span();
  if (!parent->state_) return Span(parent->context_);  // propagation only: the parent's context
  SpanRecord r;
  r.trace_id = parent->context_.trace_id;
  r.span_id = new_span_id();
  r.parent_span_id = parent->context_.span_id;
  r.tracestate = parent->context_.tracestate;
  r.name = std::string(name);
  r.kind = kind;
  return Span(parent->state_->sink, std::move(r), start.value_or(Clock::now()));
}

void record_span(std::string_view name, Clock::time_point start, Clock::time_point end,
                 std::vector<Attribute> attributes) {
  if (!tls_current || !tls_current->recording()) return;
  Span span = start_span(name, SpanKind::internal, start);
  for (auto& a : attributes) span.set(a.key, std::move(a.value));
  span.end(end);
}

void add_queue_wait(Clock::duration wait) {
  tls_queue_wait = tls_queue_wait.value_or(Clock::duration{}) + wait;
}

std::optional<Clock::duration> take_queue_wait() { return std::exchange(tls_queue_wait, std::nullopt); }

std::string outgoing_traceparent(const Span& span) {
  return span.context().valid() ? format_traceparent(span.context()) : std::string();
}

}  // namespace xervo::trace
