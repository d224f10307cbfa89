// Telemetry of the server: [telemetry] and OTEL_* parsing, the samplers, OTLP/JSON encoding, the
// exporter's bounded queue, and the spans of requests to an in-process server as a collector (an
// in-test OTLP/HTTP endpoint) and a remote provider (a fake OpenAI server) receive them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "otlp_collector.h"
#include "server/otlp_json.h"
#include "server/otlp_proto.h"
#include "server/telemetry_exporter.h"
#include "server/telemetry_sampler.h"
#include "server_fixture.h"
#include "xervo/providers.h"
#include "xervo/telemetry.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

EnvLookup env_of(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

TEST(TelemetryOptions, OffByDefaultAndOnWithAnEndpoint) {
  auto none = parse_telemetry_options(json::object(), env_of({}));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->enabled);
  auto file =
      parse_telemetry_options({{"endpoint", "http://127.0.0.1:4318/"}, {"service_name", "api"}}, env_of({}));
  ASSERT_TRUE(file.ok()) << file.error().to_string();
  EXPECT_TRUE(file->enabled);
  EXPECT_EQ(file->traces_endpoint, "http://127.0.0.1:4318/v1/traces");
  EXPECT_EQ(file->service_name, "api");
  auto off = parse_telemetry_options({{"endpoint", "http://h:4318"}, {"enabled", false}}, env_of({}));
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->enabled);
}

TEST(TelemetryOptions, StandardVariablesOverTheFile) {
  auto o =
      parse_telemetry_options({{"endpoint", "http://file:4318"}, {"sampler", "always_on"}},
                              env_of({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"},
                                      {"OTEL_SERVICE_NAME", "from-env"},
                                      {"OTEL_TRACES_SAMPLER", "parentbased_traceidratio"},
                                      {"OTEL_TRACES_SAMPLER_ARG", "0.25"},
                                      {"OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20abc,x-team=ml"},
                                      {"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod"},
                                      {"OTEL_BSP_MAX_QUEUE_SIZE", "100"},
                                      {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10"},
                                      {"OTEL_BSP_SCHEDULE_DELAY", "250"}}));
  ASSERT_TRUE(o.ok()) << o.error().to_string();
  EXPECT_EQ(o->traces_endpoint, "http://env:4318/v1/traces");
  EXPECT_EQ(o->service_name, "from-env");
  EXPECT_EQ(o->sampler, "parentbased_traceidratio");
  EXPECT_DOUBLE_EQ(o->sampler_ratio, 0.25);
  ASSERT_EQ(o->headers.size(), 2u);
  EXPECT_EQ(o->headers[0].second, "Bearer abc");
  ASSERT_EQ(o->resource_attributes.size(), 1u);
  EXPECT_EQ(o->queue_size, 100u);
  EXPECT_EQ(o->batch_size, 10u);
  EXPECT_EQ(o->export_interval, std::chrono::milliseconds(250));
  auto full = parse_telemetry_options(json::object(),
                                      env_of({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"},
                                              {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/custom"}}));
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->traces_endpoint, "http://t:1/custom");
  auto disabled =
      parse_telemetry_options({{"endpoint", "http://h:4318"}}, env_of({{"OTEL_SDK_DISABLED", "true"}}));
  ASSERT_TRUE(disabled.ok());
  EXPECT_FALSE(disabled->enabled);
}

TEST(TelemetryOptions, BadValuesAreClearErrors) {
  auto expect_error = [](const json& section, std::map<std::string, std::string> env,
                         std::string_view names) {
    auto r = parse_telemetry_options(section, env_of(std::move(env)));
    ASSERT_FALSE(r.ok()) << section.dump();
    EXPECT_EQ(r.error().code(), ErrorCode::config_invalid);
    EXPECT_NE(r.error().message().find(names), std::string::npos) << r.error().message();
  };
  expect_error({{"endpoint", "127.0.0.1:4318"}}, {}, "endpoint");
  expect_error({{"endpont", "http://h"}}, {}, "unknown key");
  expect_error({{"sampler", "sometimes"}}, {}, "sampler");
  expect_error({{"sampler_ratio", 2}}, {}, "sampler_ratio");
  expect_error({{"endpoint", "http://h"}, {"batch_size", 100}, {"queue_size", 10}}, {}, "batch_size");
  expect_error({{"export_timeout_ms", 0}}, {}, "export_timeout_ms");
  expect_error({{"enabled", true}}, {}, "no endpoint");
  expect_error({{"headers", {{"bad name", "x"}}}}, {}, "header name");
  expect_error(json::object(), {{"OTEL_TRACES_SAMPLER", "nope"}}, "OTEL_TRACES_SAMPLER");
  expect_error(json::object(), {{"OTEL_TRACES_SAMPLER", "traceidratio"}, {"OTEL_TRACES_SAMPLER_ARG", "x"}},
               "OTEL_TRACES_SAMPLER_ARG");
  expect_error(json::object(), {{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}}, "grpc");
  expect_error(json::object(), {{"OTEL_BSP_MAX_QUEUE_SIZE", "-1"}}, "OTEL_BSP_MAX_QUEUE_SIZE");
  expect_error(json::object(), {{"OTEL_TRACES_EXPORTER", "zipkin"}}, "OTEL_TRACES_EXPORTER");
}

// Trace ids whose random part (the last 7 bytes) is i / n of the whole range.
trace::TraceId id_at(uint64_t i, uint64_t n) {
  trace::TraceId id{};
  id[0] = 1;
  const uint64_t r = static_cast<uint64_t>((static_cast<__uint128_t>(i) << 56) / n);
  for (int k = 0; k < 7; ++k) id[15 - k] = static_cast<uint8_t>(r >> (8 * k));
  return id;
}

TEST(TraceSampler, RatioKeepsThatShareOfTraceIds) {
  server::TraceSampler quarter("traceidratio", 0.25);
  int kept = 0;
  for (uint64_t i = 0; i < 1000; ++i) kept += quarter.should_sample(id_at(i, 1000), std::nullopt);
  EXPECT_EQ(kept, 250);
  // The same id always gets the same answer.
  EXPECT_EQ(quarter.should_sample(id_at(100, 1000), std::nullopt),
            quarter.should_sample(id_at(100, 1000), std::nullopt));
  server::TraceSampler none("traceidratio", 0.0), all("traceidratio", 1.0);
  for (uint64_t i = 0; i < 1000; i += 37) {
    EXPECT_FALSE(none.should_sample(id_at(i, 1000), std::nullopt));
    EXPECT_TRUE(all.should_sample(id_at(i, 1000), std::nullopt));
  }
}

TEST(TraceSampler, ParentBasedFollowsTheClientsFlag) {
  trace::SpanContext sampled{id_at(1, 2), trace::new_span_id(), true, ""};
  trace::SpanContext unsampled{id_at(1, 2), trace::new_span_id(), false, ""};
  server::TraceSampler on("parentbased_always_on", 1), off("parentbased_always_off", 1);
  EXPECT_TRUE(on.should_sample(sampled.trace_id, std::nullopt));
  EXPECT_FALSE(on.should_sample(unsampled.trace_id, unsampled));
  EXPECT_TRUE(off.should_sample(sampled.trace_id, sampled));
  EXPECT_FALSE(off.should_sample(sampled.trace_id, std::nullopt));
  server::TraceSampler always("always_on", 1), never("always_off", 1);
  EXPECT_TRUE(always.should_sample(unsampled.trace_id, unsampled));  // not parent-based: the flag is ignored
  EXPECT_FALSE(never.should_sample(sampled.trace_id, sampled));
}

trace::SpanRecord sample_span() {
  const auto client =
      trace::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").value();
  trace::SpanRecord s;
  s.trace_id = client.trace_id;
  s.span_id = trace::new_span_id();
  s.parent_span_id = client.span_id;
  s.name = "POST /v1/chat/completions";
  s.kind = trace::SpanKind::server;
  s.start_unix_ns = 1700000000123456789;
  s.end_unix_ns = 1700000000223456789;
  s.attributes = {{"http.response.status_code", int64_t{200}},
                  {"gen_ai.response.finish_reasons", std::vector<std::string>{"stop"}},
                  {"ratio", 0.5},
                  {"cached", true},
                  {"bytes", std::string("\xff\xfe not utf-8")}};
  s.status = trace::StatusCode::error;
  s.status_message = "HTTP 503";
  return s;
}

TEST(OtlpJson, EncodesAnExportRequestAsOtlpSpecifiesIt) {
  server::OtlpResource resource{"svc", {{"deployment.environment", "test"}}};
  auto body = json::parse(server::encode_export_request({sample_span()}, resource));
  const auto& rs = body.at("resourceSpans").at(0);
  const auto& rattrs = rs.at("resource").at("attributes");
  EXPECT_EQ(rattrs.at(0), json::parse(R"({"key": "service.name", "value": {"stringValue": "svc"}})"));
  const auto& span = rs.at("scopeSpans").at(0).at("spans").at(0);
  EXPECT_EQ(rs.at("scopeSpans").at(0).at("scope").at("name"), "xervo");
  EXPECT_EQ(span.at("traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");  // hex, not base64
  EXPECT_EQ(span.at("parentSpanId"), "00f067aa0ba902b7");
  EXPECT_EQ(span.at("spanId").get<std::string>().size(), 16u);
  EXPECT_EQ(span.at("kind"), 2);                                   // enums are integers
  EXPECT_EQ(span.at("startTimeUnixNano"), "1700000000123456789");  // 64-bit integers are strings
  EXPECT_EQ(span.at("status"), json::parse(R"({"code": 2, "message": "HTTP 503"})"));
  const auto& attrs = span.at("attributes");
  EXPECT_EQ(attrs.at(0).at("value"), json::parse(R"({"intValue": "200"})"));
  EXPECT_EQ(attrs.at(1).at("value"), json::parse(R"({"arrayValue": {"values": [{"stringValue": "stop"}]}})"));
  EXPECT_EQ(attrs.at(2).at("value"), json::parse(R"({"doubleValue": 0.5})"));
  EXPECT_EQ(attrs.at(3).at("value"), json::parse(R"({"boolValue": true})"));
  EXPECT_TRUE(attrs.at(4).at("value").at("stringValue").is_string());
  // A root span has no parentSpanId field at all.
  trace::SpanRecord root = sample_span();
  root.parent_span_id = {};
  auto root_body = json::parse(server::encode_export_request({root}, resource));
  EXPECT_FALSE(root_body["resourceSpans"][0]["scopeSpans"][0]["spans"][0].contains("parentSpanId"));
}

TEST(OtlpProto, ReadsPartialSuccessAndIgnoresWhatItCannotRead) {
  using namespace std::string_literals;
  // ExportTraceServiceResponse{partial_success{rejected_spans: 3, error_message: "x"}}
  EXPECT_EQ(server::rejected_spans_proto("\x0a\x05\x08\x03\x12\x01x"s), 3u);
  EXPECT_EQ(server::rejected_spans_proto("\x0a\x05\x12\x01x\x08\x07"s), 7u);  // any field order
  EXPECT_EQ(server::rejected_spans_proto(""), 0u);
  EXPECT_EQ(server::rejected_spans_proto("\x0a\x7f\x08"s), 0u);      // length past the end
  EXPECT_EQ(server::rejected_spans_proto("\x0a\x02\x08\xff"s), 0u);  // varint cut short
  EXPECT_EQ(server::rejected_spans_proto("\x0f\x00"s), 0u);          // wire type 7
  EXPECT_EQ(server::rejected_spans_proto(std::string(64, '\xff')), 0u);
}

TEST(OtlpProto, EncodesIdsTimesAndAttributesWithTheirFieldNumbers) {
  trace::SpanRecord s;
  s.trace_id.fill(0xab);
  s.span_id.fill(0xcd);
  s.name = "POST /v1/x\xff";  // not UTF-8: replaced
  s.kind = trace::SpanKind::server;
  s.start_unix_ns = 1;
  s.end_unix_ns = 2;
  s.attributes.push_back({"n", int64_t{-1}});
  std::string body = server::encode_export_request_proto({s}, {});
  // trace_id (field 1, bytes): tag 0x0a, length 16, the id.
  EXPECT_NE(body.find("\x0a\x10" + std::string(16, '\xab')), std::string::npos);
  EXPECT_NE(body.find("\x12\x08" + std::string(8, '\xcd')), std::string::npos);
  EXPECT_NE(body.find("POST /v1/x\xef\xbf\xbd"), std::string::npos);
  EXPECT_NE(body.find("\x30\x02"), std::string::npos);                // kind (6, varint) = SERVER
  std::string start = "\x39" + std::string("\x01\0\0\0\0\0\0\0", 8);  // start_time (7, fixed64)
  EXPECT_NE(body.find(start), std::string::npos);
  // int_value (3) -1 is ten varint bytes (int64, two's complement).
  EXPECT_NE(body.find("\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), std::string::npos);
  EXPECT_EQ(body.find("parent"), std::string::npos);
}

TEST(OtlpProto, ValidUtf8KeepsTextAndReplacesBadBytes) {
  EXPECT_EQ(server::valid_utf8("héllo €𝄞"), "héllo €𝄞");
  EXPECT_EQ(server::valid_utf8("a\xc3"), "a\xef\xbf\xbd");                                // cut short
  EXPECT_EQ(server::valid_utf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");                  // overlong '/'
  EXPECT_EQ(server::valid_utf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // a surrogate
  EXPECT_EQ(server::valid_utf8("\xf4\x90\x80\x80").substr(0, 3), "\xef\xbf\xbd");         // past U+10FFFF
}

TEST(OtlpJson, ReadsPartialSuccess) {
  EXPECT_EQ(server::rejected_spans(""), 0u);
  EXPECT_EQ(server::rejected_spans("{}"), 0u);
  EXPECT_EQ(server::rejected_spans(R"({"partialSuccess": {"rejectedSpans": "3"}})"), 3u);
  EXPECT_EQ(server::rejected_spans(R"({"partialSuccess": {"rejectedSpans": 2, "errorMessage": "x"}})"), 2u);
  EXPECT_EQ(server::rejected_spans(R"({"partialSuccess": {"rejectedSpans": "-1"}})"), 0u);
}

TelemetryOptions exporter_options(size_t batch, size_t queue) {
  TelemetryOptions o;
  o.enabled = true;
  o.traces_endpoint = "http://127.0.0.1:9/v1/traces";
  o.batch_size = batch;
  o.queue_size = queue;
  o.export_interval = std::chrono::milliseconds(1);
  o.export_timeout = std::chrono::milliseconds(2000);
  return o;
}

TEST(SpanExporter, AFullQueueDropsAndCountsInsteadOfBlocking) {
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  std::atomic<int> calls{0};
  std::atomic<size_t> sent_spans{0};
  server::SpanExporter exporter(exporter_options(1, 2), [&](const std::string& body) -> Result<uint64_t> {
    sent_spans += json::parse(body)["resourceSpans"][0]["scopeSpans"][0]["spans"].size();
    if (calls.fetch_add(1) == 0) {
      entered.set_value();
      released.wait();  // a collector that does not answer
    }
    return uint64_t{0};
  });
  exporter.submit(sample_span());
  entered.get_future().wait();                                 // the exporter holds span 1 in its export
  for (int i = 0; i < 5; ++i) exporter.submit(sample_span());  // 2 fit in the queue, 3 are dropped
  auto s = exporter.stats();
  EXPECT_EQ(s.queued, 2u);
  EXPECT_EQ(s.dropped_queue_full, 3u);
  release.set_value();
  exporter.stop();
  s = exporter.stats();
  EXPECT_EQ(s.exported, 3u);
  EXPECT_EQ(sent_spans.load(), 3u);
  EXPECT_EQ(s.dropped_queue_full, 3u);
  EXPECT_EQ(s.queued, 0u);
}

TEST(SpanExporter, FailedAndRejectedExportsAreCounted) {
  int call = 0;
  server::SpanExporter exporter(exporter_options(2, 100), [&](const std::string&) -> Result<uint64_t> {
    if (call++ == 0) return Error(ErrorCode::unavailable, "connection refused");
    return uint64_t{1};  // one span of the batch refused
  });
  for (int i = 0; i < 4; ++i) exporter.submit(sample_span());
  exporter.stop();
  auto s = exporter.stats();
  EXPECT_EQ(s.export_requests, 2u);
  EXPECT_EQ(s.export_failures, 1u);
  EXPECT_EQ(s.dropped_export, 2u);
  EXPECT_EQ(s.dropped_rejected, 1u);
  EXPECT_EQ(s.exported, 1u);
}

TEST(SpanExporter, ExportsToARealEndpointOverHttp) {
  httplib::Server collector;
  std::mutex mu;
  std::vector<std::string> bodies;
  std::string content_type, token;
  collector.Post("/v1/traces", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    bodies.push_back(req.body);
    content_type = req.get_header_value("Content-Type");
    token = req.get_header_value("Authorization");
    res.set_content("{}", "application/json");
  });
  collector.set_keep_alive_max_count(1);
  const int port = collector.bind_to_any_port("127.0.0.1");
  std::thread t([&] { collector.listen_after_bind(); });
  auto o = exporter_options(10, 100);
  o.traces_endpoint = "http://127.0.0.1:" + std::to_string(port) + "/v1/traces";
  o.headers = {{"Authorization", "Bearer t"}};
  {
    server::SpanExporter exporter(o);
    for (int i = 0; i < 3; ++i) exporter.submit(sample_span());
    exporter.stop();
    EXPECT_EQ(exporter.stats().exported, 3u);
  }
  collector.stop();
  t.join();
  size_t spans = 0;
  for (const auto& b : bodies) spans += json::parse(b)["resourceSpans"][0]["scopeSpans"][0]["spans"].size();
  EXPECT_EQ(spans, 3u);
  EXPECT_EQ(content_type, "application/json");
  EXPECT_EQ(token, "Bearer t");
}

// --- spans of requests to an in-process server ---------------------------------------------------

class TelemetryServerTest : public ServerTest {
 protected:
  Collector collector;
  void SetUp() override {
    options.telemetry.enabled = true;
    options.telemetry.traces_endpoint = collector.url();
    options.telemetry.export_interval = std::chrono::milliseconds(5);
  }
  std::vector<json> spans_after_stop() {
    server->stop();  // sends what is queued
    return collector.spans();
  }
};

constexpr const char* kClientTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kClientSpan = "00f067aa0ba902b7";
const std::string kTraceparent = std::string("00-") + kClientTrace + "-" + kClientSpan + "-01";

TEST_F(TelemetryServerTest, ARequestsSpansDescendFromTheClientsTraceparent) {
  ApiKey key;
  key.name = "app";
  key.sha256 = sha256_hex("k");
  key.scopes = {"inference"};
  options.keys = {key};
  start();
  auto r = post("/v1/chat/completions",
                {{"model", "chat/test"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}},
                {{"traceparent", kTraceparent}, {"tracestate", "rojo=1"}, {"Authorization", "Bearer k"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto spans = spans_after_stop();
  const json* http = named(spans, "POST /v1/chat/completions");
  ASSERT_TRUE(http) << json(spans).dump(1);
  EXPECT_EQ((*http)["traceId"], kClientTrace);
  EXPECT_EQ((*http)["parentSpanId"], kClientSpan);
  EXPECT_EQ((*http)["traceState"], "rojo=1");
  EXPECT_EQ((*http)["kind"], 2);
  EXPECT_EQ(attr(*http, "http.request.method"), "\"POST\"");
  EXPECT_EQ(attr(*http, "url.path"), "\"/v1/chat/completions\"");
  EXPECT_EQ(attr(*http, "http.response.status_code"), "\"200\"");
  EXPECT_EQ(attr(*http, "gen_ai.operation.name"), "\"chat\"");
  EXPECT_EQ(attr(*http, "gen_ai.request.model"), "\"chat/test\"");
  EXPECT_NE(attr(*http, "gen_ai.usage.output_tokens"), "");
  EXPECT_EQ(attr(*http, "gen_ai.response.finish_reasons"), R"({"values":[{"stringValue":"length"}]})");
  for (const char* child : {"auth", "acquire"}) {
    const json* c = named(spans, child);
    ASSERT_TRUE(c) << child << "\n" << json(spans).dump(1);
    EXPECT_EQ((*c)["traceId"], kClientTrace);
    EXPECT_EQ((*c)["parentSpanId"], (*http)["spanId"]) << child;
  }
}

TEST_F(TelemetryServerTest, AMalformedTraceparentStartsANewTrace) {
  start();
  auto r =
      post("/v1/embeddings", {{"model", "embed/test"}, {"input", "x"}}, {{"traceparent", "00-zz-yy-01"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  auto spans = spans_after_stop();
  const json* http = named(spans, "POST /v1/embeddings");
  ASSERT_TRUE(http);
  EXPECT_FALSE(http->contains("parentSpanId"));
  EXPECT_NE((*http)["traceId"], kClientTrace);
  EXPECT_EQ(attr(*http, "gen_ai.operation.name"), "\"embeddings\"");
}

TEST_F(TelemetryServerTest, ACollectorThatIsDownCostsSpansNotRequests) {
  options.telemetry.traces_endpoint = "http://127.0.0.1:" + std::to_string(closed_port()) + "/v1/traces";
  options.telemetry.batch_size = 1;
  start();
  for (int i = 0; i < 5; ++i) {
    auto r = post("/v1/embeddings", {{"model", "embed/test"}, {"input", "x"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  // The exporter drops what it cannot send: wait until it has tried (bounded; no timing asserted).
  std::string body;
  for (int i = 0; i < 500; ++i) {
    body = get("/metrics")->body;
    if (body.find("xervo_trace_spans_dropped_total{reason=\"export_failed\"} 0") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(body.find("xervo_trace_spans_dropped_total{reason=\"export_failed\"} 0"), std::string::npos)
      << body;
  EXPECT_NE(body.find("xervo_trace_enabled 1"), std::string::npos);
  EXPECT_NE(body.find("xervo_trace_export_requests_total{result=\"failed\"}"), std::string::npos);
}

TEST_F(TelemetryServerTest, SampledOutRequestsExportNothing) {
  options.telemetry.sampler = "parentbased_always_on";
  start();
  auto r = post("/v1/embeddings", {{"model", "embed/test"}, {"input", "x"}},
                {{"traceparent", std::string("00-") + kClientTrace + "-" + kClientSpan + "-00"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(spans_after_stop().empty());
}

#if XERVO_HAVE_OPENAI
// A remote provider gets the trace context: the client span's own when traced, the client's as it
// came when tracing is off.
class FakeOpenAI {
 public:
  FakeOpenAI() {
    server_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        traceparent_ = req.get_header_value("traceparent");
        tracestate_ = req.get_header_value("tracestate");
      }
      // The provider streams: chat.completion.chunk events, then [DONE].
      res.set_content(
          "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello\"},\"finish_reason\":null}]}\n\n"
          "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
          "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n"
          "data: [DONE]\n\n",
          "text/event-stream");
    });
    server_.set_keep_alive_max_count(1);  // stop() does not wait for an idle keep-alive connection
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeOpenAI() {
    server_.stop();
    thread_.join();
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::pair<std::string, std::string> seen() {
    std::lock_guard lock(mu_);
    return {traceparent_, tracestate_};
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::string traceparent_, tracestate_;
};

std::unique_ptr<Server> remote_server(const FakeOpenAI& remote, TelemetryOptions telemetry) {
  RuntimeBuilder builder;
  builder.add_provider(make_openai_provider({{"base_url", remote.base_url()}, {"timeout_ms", 10000}}));
  ModelSpec spec;
  spec.alias = "chat/remote";
  spec.task = ModelTask::generate;
  spec.provider = "openai";
  spec.model = "gpt-test";
  builder.add_spec(spec);
  auto runtime = builder.build();
  EXPECT_TRUE(runtime.ok()) << runtime.error().to_string();
  ServerOptions o;
  o.port = 0;
  o.threads = 4;
  o.telemetry = std::move(telemetry);
  auto s = Server::start(*runtime, o);
  EXPECT_TRUE(s.ok()) << s.error().to_string();
  return std::move(*s);
}

httplib::Result chat(const Server& s, const httplib::Headers& headers) {
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(30, 0);
  json body = {{"model", "chat/remote"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  return c.Post("/v1/chat/completions", headers, body.dump(), "application/json");
}

TEST(TelemetryRemote, TheProviderCallIsAClientSpanWhoseContextTheProviderGets) {
  FakeOpenAI remote;
  Collector collector;
  TelemetryOptions t;
  t.enabled = true;
  t.traces_endpoint = collector.url();
  auto s = remote_server(remote, t);
  auto r = chat(*s, {{"traceparent", kTraceparent}, {"tracestate", "rojo=1"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  s->stop();
  auto spans = collector.spans();
  const json* call = named(spans, "chat gpt-test");
  const json* http = named(spans, "POST /v1/chat/completions");
  ASSERT_TRUE(call && http) << json(spans).dump(1);
  EXPECT_EQ((*call)["kind"], 3);
  EXPECT_EQ((*call)["traceId"], kClientTrace);
  EXPECT_EQ((*call)["parentSpanId"], (*http)["spanId"]);
  EXPECT_EQ(attr(*call, "gen_ai.provider.name"), "\"openai\"");
  EXPECT_EQ(attr(*call, "gen_ai.request.model"), "\"gpt-test\"");
  EXPECT_EQ(attr(*call, "http.response.status_code"), "\"200\"");
  auto [traceparent, tracestate] = remote.seen();
  EXPECT_EQ(traceparent,
            std::string("00-") + kClientTrace + "-" + (*call)["spanId"].get<std::string>() + "-01");
  EXPECT_EQ(tracestate, "rojo=1");
}

TEST(TelemetryRemote, WithTracingOffTheClientsContextPassesThrough) {
  FakeOpenAI remote;
  auto s = remote_server(remote, TelemetryOptions{});
  auto r = chat(*s, {{"traceparent", kTraceparent}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(remote.seen().first, kTraceparent);
  auto bad = chat(*s, {{"traceparent", "01-not-a-trace"}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 200);
  EXPECT_EQ(remote.seen().first, "");  // a malformed one is not passed on
  s->stop();
}

#endif  // XERVO_HAVE_OPENAI

}  // namespace
}  // namespace xervo::testing
