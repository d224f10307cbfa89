// The tracing API: W3C trace context parsing, span trees through the thread's current span,
// propagation without recording, bounds on attributes.
#include "core/trace.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

namespace xervo::trace {
namespace {

constexpr std::string_view kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

struct CapturingSink : SpanSink {
  std::mutex mu;
  std::vector<SpanRecord> spans;
  void submit(SpanRecord span) override {
    std::lock_guard lock(mu);
    spans.push_back(std::move(span));
  }
  const SpanRecord* find(std::string_view name) {
    for (const auto& s : spans)
      if (s.name == name) return &s;
    return nullptr;
  }
};

Span root(const std::shared_ptr<CapturingSink>& sink, std::string name = "root") {
  SpanRecord r;
  r.trace_id = new_trace_id();
  r.span_id = new_span_id();
  r.name = std::move(name);
  r.kind = SpanKind::server;
  return Span(sink, std::move(r), Clock::now());
}

const AttributeValue* attribute(const SpanRecord& s, std::string_view key) {
  for (const auto& a : s.attributes)
    if (a.key == key) return &a.value;
  return nullptr;
}

TEST(Traceparent, ParsesAValidHeader) {
  auto c = parse_traceparent(kValid);
  ASSERT_TRUE(c);
  EXPECT_EQ(to_hex(c->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(to_hex(c->span_id), "00f067aa0ba902b7");
  EXPECT_TRUE(c->sampled);
  EXPECT_EQ(format_traceparent(*c), kValid);
  auto unsampled = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled);
  EXPECT_FALSE(unsampled->sampled);
}

TEST(Traceparent, MalformedHeadersAreIgnored) {
  for (std::string_view bad : {
           "",
           "garbage",
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",    // uppercase
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero span id
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // forbidden version
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // version 00 has four fields
           "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",    // dashes misplaced
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",    // flags not hex
           "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
       })
    EXPECT_FALSE(parse_traceparent(bad)) << bad;
}

TEST(Traceparent, ALaterVersionIsReadByItsFirstFourFields) {
  auto c = parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->sampled);
  EXPECT_FALSE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
}

TEST(Tracestate, KeepsWellFormedListsAndDropsOthers) {
  EXPECT_EQ(parse_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(parse_tracestate("tenant@vendor=1"), "tenant@vendor=1");
  EXPECT_EQ(parse_tracestate("1tenant@vendor=1"), "1tenant@vendor=1");  // a tenant id may start with a digit
  EXPECT_EQ(parse_tracestate("tenant@=1"), "");                         // the system id may not be empty
  EXPECT_EQ(parse_tracestate("1key=1"), "");                            // a simple key starts with a letter
  EXPECT_EQ(parse_tracestate("Upper=1"), "");
  EXPECT_EQ(parse_tracestate("novalue"), "");
  EXPECT_EQ(parse_tracestate("a=b\nc"), "");
  std::string many;
  for (int i = 0; i < 33; ++i) many += "k" + std::to_string(i) + "=v,";
  EXPECT_EQ(parse_tracestate(many), "");
  EXPECT_EQ(parse_tracestate(std::string(600, 'a')), "");
}

TEST(Span, ChildrenOfTheCurrentSpanShareItsTrace) {
  auto sink = std::make_shared<CapturingSink>();
  {
    Span r = root(sink);
    ScopedSpan scope(r);
    Span a = start_span("a");
    {
      ScopedSpan in_a(a);
      Span b = start_span("b", SpanKind::client);
      b.set("n", 3).set("flag", true).set("text", "x");
    }
    a.end();
    EXPECT_EQ(current(), &r);
  }
  EXPECT_EQ(current(), nullptr);
  ASSERT_EQ(sink->spans.size(), 3u);
  const SpanRecord* r = sink->find("root");
  const SpanRecord* a = sink->find("a");
  const SpanRecord* b = sink->find("b");
  ASSERT_TRUE(r && a && b);
  EXPECT_EQ(a->trace_id, r->trace_id);
  EXPECT_EQ(b->trace_id, r->trace_id);
  EXPECT_EQ(a->parent_span_id, r->span_id);
  EXPECT_EQ(b->parent_span_id, a->span_id);
  EXPECT_NE(a->span_id, b->span_id);
  EXPECT_EQ(b->kind, SpanKind::client);
  ASSERT_TRUE(attribute(*b, "n"));
  EXPECT_EQ(std::get<int64_t>(*attribute(*b, "n")), 3);
  EXPECT_TRUE(std::get<bool>(*attribute(*b, "flag")));
  EXPECT_EQ(std::get<std::string>(*attribute(*b, "text")), "x");
  EXPECT_LE(r->start_unix_ns, a->start_unix_ns);
  EXPECT_LE(a->start_unix_ns, a->end_unix_ns);
}

TEST(Span, WithoutACurrentSpanNothingIsRecorded) {
  Span s = start_span("orphan");
  EXPECT_FALSE(s.recording());
  EXPECT_FALSE(s.context().valid());
  EXPECT_EQ(outgoing_traceparent(s), "");
}

TEST(Span, ANonRecordingParentStillPropagatesItsContext) {
  auto c = parse_traceparent(kValid);
  c->tracestate = "rojo=1";
  Span passthrough(*c);
  ScopedSpan scope(passthrough);
  Span child = start_span("client call", SpanKind::client);
  EXPECT_FALSE(child.recording());
  EXPECT_EQ(outgoing_traceparent(child), kValid);
  EXPECT_EQ(child.context().tracestate, "rojo=1");
}

TEST(Span, RecordSpanAddsAFinishedChild) {
  auto sink = std::make_shared<CapturingSink>();
  Span r = root(sink);
  {
    ScopedSpan scope(r);
    const auto t0 = Clock::now();
    record_span("queue", t0, t0 + std::chrono::milliseconds(5), {{"k", int64_t{7}}});
  }
  ASSERT_EQ(sink->spans.size(), 1u);
  const auto& q = sink->spans[0];
  EXPECT_EQ(q.parent_span_id, r.context().span_id);
  EXPECT_EQ(q.end_unix_ns - q.start_unix_ns, 5'000'000);
  EXPECT_EQ(std::get<int64_t>(*attribute(q, "k")), 7);
}

TEST(Span, AttributesAreBounded) {
  auto sink = std::make_shared<CapturingSink>();
  {
    Span r = root(sink);
    for (size_t i = 0; i < kMaxAttributes + 10; ++i) r.set("k" + std::to_string(i), int64_t(i));
    r.set("k0", std::string(5000, 'x'));  // replaces, cut to the bound
    r.set_error(std::string(5000, 'e'));
  }
  ASSERT_EQ(sink->spans.size(), 1u);
  const auto& s = sink->spans[0];
  EXPECT_EQ(s.attributes.size(), kMaxAttributes);
  EXPECT_EQ(std::get<std::string>(*attribute(s, "k0")).size(), kMaxAttributeBytes);
  EXPECT_EQ(s.status, StatusCode::error);
  EXPECT_EQ(s.status_message.size(), kMaxAttributeBytes);
}

TEST(Span, EndsOnceWhateverEndsIt) {
  auto sink = std::make_shared<CapturingSink>();
  {
    Span r = root(sink);
    r.end();
    r.end();
    Span moved = std::move(r);
  }
  EXPECT_EQ(sink->spans.size(), 1u);
}

TEST(QueueWait, IsTakenOncePerThread) {
  EXPECT_FALSE(take_queue_wait());
  add_queue_wait(std::chrono::milliseconds(2));
  add_queue_wait(std::chrono::milliseconds(3));
  std::thread other([] { EXPECT_FALSE(take_queue_wait()); });
  other.join();
  auto w = take_queue_wait();
  ASSERT_TRUE(w);
  EXPECT_EQ(*w, std::chrono::milliseconds(5));
  EXPECT_FALSE(take_queue_wait());
}

}  // namespace
}  // namespace xervo::trace
