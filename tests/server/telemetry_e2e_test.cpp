// End to end: `xervo serve` on a generated llama.cpp model exports its spans to a real OTLP/HTTP
// receiver (tests/server/otlp_receiver.py: every body parsed strictly into opentelemetry-proto's
// ExportTraceServiceRequest). One request's spans share the client's trace, its server span is the
// child of the client's traceparent, and acquire, load, cache lookup, queue, prompt and generate hang
// under it with their GenAI attributes. With the collector's port closed, requests still succeed
// and the dropped spans are counted.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "otlp_collector.h"
#include "process.h"
#include "test_models.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

constexpr const char* kTrace = "0af7651916cd43dd8448eb211c80319c";
constexpr const char* kParent = "b7ad6b7169203331";

bool wait_healthy(int port, ChildProcess& process) {
  for (int i = 0; i < 600; ++i) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1, 0);
    if (auto r = c.Get("/health"); r && r->status == 200) return true;
    if (!process.running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::filesystem::path temp_dir(const std::string& name) {
  auto dir =
      std::filesystem::temp_directory_path() / ("xervo-otel-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void write_config(const std::filesystem::path& path, const std::string& endpoint,
                  const std::string& protocol = "http/json") {
  std::ofstream(path) << "[models.\"chat/tiny\"]\ntask = \"generate\"\nprovider = \"llamacpp\"\nmodel = \""
                      << test_model("generator").string() << "\"\n"
                      << "[cache]\nenabled = true\ndisk = 0\n"
                      << "[server]\nshutdown_grace_s = 10\n"
                      << "[telemetry]\nendpoint = \"" << endpoint << "\"\nservice_name = \"xervo-e2e\"\n"
                      << "export_interval_ms = 100\nbatch_size = 4\nprotocol = \"" << protocol << "\"\n";
}

httplib::Result chat(int port, const std::string& traceparent, bool stream) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120, 0);
  json body = {{"model", "chat/tiny"},
               {"max_tokens", 6},
               {"temperature", 0},
               {"stream", stream},
               {"messages", {{{"role", "user"}, {"content", "hello there"}}}}};
  return c.Post("/v1/chat/completions", {{"traceparent", traceparent}, {"tracestate", "congo=t61rcWkgMzE"}},
                body.dump(), "application/json");
}

std::vector<json> received_spans(const std::filesystem::path& file) {
  std::vector<json> spans;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    auto j = json::parse(line);
    EXPECT_FALSE(j.contains("error")) << "the receiver refused an export: " << line;
    for (auto& s : j.value("spans", json::array())) spans.push_back(s);
  }
  return spans;
}

std::vector<json> of_trace(const std::vector<json>& spans, const std::string& trace) {
  std::vector<json> out;
  for (const auto& s : spans)
    if (s["trace_id"] == trace) out.push_back(s);
  return out;
}

// Both encodings OTLP/HTTP defines: every body is parsed by opentelemetry-proto's own definitions.
class TelemetryE2E : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Encodings, TelemetryE2E, ::testing::Values("http/json", "http/protobuf"),
                         [](const auto& info) { return info.param == "http/json" ? "Json" : "Protobuf"; });

TEST_P(TelemetryE2E, SpansOfOneRequestReachARealReceiverWithTheirParents) {
  if (!std::filesystem::exists(XERVO_OTLP_PYTHON))
    GTEST_SKIP() << "no OTLP receiver (scripts/bootstrap step 6)";
  auto dir = temp_dir("spans-" + std::string(GetParam() == "http/json" ? "json" : "proto"));
  const auto out = dir / "spans.jsonl";
  ChildProcess receiver({XERVO_OTLP_PYTHON, XERVO_OTLP_RECEIVER, "--out", out.string()});
  auto receiver_port = receiver.wait_for_listening_port(std::chrono::seconds(30));
  ASSERT_TRUE(receiver_port) << receiver.log();
  write_config(dir / "xervo.toml", "http://127.0.0.1:" + std::to_string(*receiver_port), GetParam());
  ChildProcess server({XERVO_BINARY, "--config", (dir / "xervo.toml").string(), "serve", "--port", "0"});
  auto port = server.wait_for_listening_port();
  ASSERT_TRUE(port) << server.log();
  ASSERT_TRUE(wait_healthy(*port, server)) << server.log();

  const std::string whole_trace = kTrace;
  auto r = chat(*port, std::string("00-") + kTrace + "-" + kParent + "-01", false);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body << server.log();
  // A streamed one, in its own trace: its spans are recorded while the stream runs after the handler.
  const std::string stream_trace = "1af7651916cd43dd8448eb211c80319c";
  auto s = chat(*port, "00-" + stream_trace + "-" + kParent + "-01", true);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->status, 200) << s->body;

  server.signal(SIGTERM);  // stopping sends what is queued
  auto code = server.wait(std::chrono::seconds(60));
  ASSERT_TRUE(code) << server.log();
  EXPECT_EQ(*code, 0) << server.log();
  receiver.stop();

  const auto all = received_spans(out);
  {
    std::ifstream in(out);
    std::string line;
    const std::string want = GetParam() == "http/json" ? "application/json" : "application/x-protobuf";
    while (std::getline(in, line)) EXPECT_EQ(json::parse(line).value("content_type", ""), want);
  }
  const auto spans = of_trace(all, whole_trace);
  const json* http = named(spans, "POST /v1/chat/completions");
  ASSERT_TRUE(http) << json(all).dump(1) << server.log();
  EXPECT_EQ((*http)["parent_span_id"], kParent);  // the client's traceparent is the parent
  EXPECT_EQ((*http)["trace_state"], "congo=t61rcWkgMzE");
  EXPECT_EQ((*http)["kind"], 2);
  EXPECT_EQ((*http)["service"], "xervo-e2e");
  EXPECT_EQ((*http)["attributes"]["http.response.status_code"], 200);
  EXPECT_EQ((*http)["attributes"]["gen_ai.request.model"], "chat/tiny");
  EXPECT_EQ((*http)["attributes"]["gen_ai.operation.name"], "chat");
  const std::string http_id = (*http)["span_id"];
  for (const char* child : {"acquire", "cache.lookup", "queue", "prompt", "generate"}) {
    const json* c = named(spans, child);
    ASSERT_TRUE(c) << child << " missing\n" << json(spans).dump(1);
    EXPECT_EQ((*c)["parent_span_id"], http_id) << child;
    EXPECT_GE((*c)["start"].get<uint64_t>(), (*http)["start"].get<uint64_t>()) << child;
    EXPECT_LE((*c)["end"].get<uint64_t>(), (*http)["end"].get<uint64_t>()) << child;
  }
  const json* load = named(spans, "load");  // the first request loads the model, under acquire
  ASSERT_TRUE(load) << json(spans).dump(1);
  EXPECT_EQ((*load)["parent_span_id"], (*named(spans, "acquire"))["span_id"]);
  const json& gen = *named(spans, "generate");
  EXPECT_GT(gen["attributes"]["gen_ai.usage.output_tokens"].get<int64_t>(), 0);
  EXPECT_TRUE(gen["attributes"]["gen_ai.response.finish_reasons"].is_array());
  EXPECT_GT((*named(spans, "prompt"))["attributes"]["gen_ai.usage.input_tokens"].get<int64_t>(), 0);
  EXPECT_EQ((*named(spans, "cache.lookup"))["attributes"]["xervo.cache.hit"], false);
  // Only one prompt, one generate: not a span per token.
  int generates = 0;
  for (const auto& sp : spans) generates += sp["name"] == "generate";
  EXPECT_EQ(generates, 1);

  const auto streamed = of_trace(all, stream_trace);
  const json* stream_http = named(streamed, "POST /v1/chat/completions");
  ASSERT_TRUE(stream_http) << json(all).dump(1);
  // The second request is the first one's again (greedy, cached): a hit, and no engine spans.
  const json* hit = named(streamed, "cache.lookup");
  ASSERT_TRUE(hit) << json(streamed).dump(1);
  EXPECT_EQ((*hit)["attributes"]["xervo.cache.hit"], true);
  EXPECT_EQ((*hit)["parent_span_id"], (*stream_http)["span_id"]);
  std::filesystem::remove_all(dir);
}

TEST(TelemetryE2EClosed, ACollectorOnAClosedPortDropsSpansAndRequestsSucceed) {
  auto dir = temp_dir("closed");
  const int closed = closed_port();
  write_config(dir / "xervo.toml", "http://127.0.0.1:" + std::to_string(closed));
  ChildProcess server({XERVO_BINARY, "--config", (dir / "xervo.toml").string(), "serve", "--port", "0"});
  auto port = server.wait_for_listening_port();
  ASSERT_TRUE(port) << server.log();
  ASSERT_TRUE(wait_healthy(*port, server)) << server.log();
  for (int i = 0; i < 4; ++i) {
    auto r = chat(*port, std::string("00-") + kTrace + "-" + kParent + "-01", false);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
  }
  // Bounded wait for the exporter's first failed attempt (no timing is asserted).
  std::string metrics;
  const std::string none = "xervo_trace_spans_dropped_total{reason=\"export_failed\"} 0\n";
  for (int i = 0; i < 300; ++i) {
    httplib::Client c("127.0.0.1", *port);
    auto m = c.Get("/metrics");
    ASSERT_TRUE(m);
    metrics = m->body;
    if (metrics.find(none) == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(metrics.find(none), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("xervo_trace_spans_dropped_total{reason=\"export_failed\"}"), std::string::npos);
  server.signal(SIGTERM);
  auto code = server.wait(std::chrono::seconds(60));
  ASSERT_TRUE(code) << server.log();
  EXPECT_EQ(*code, 0) << server.log();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xervo::testing
