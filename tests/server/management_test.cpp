// Management routes, readiness, lifecycle events over SSE, and the Prometheus metrics.
#include <future>

#include "server_fixture.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

TEST_F(ServerTest, RuntimeModelsLoadAndUnload) {
  start();
  auto load = post("/v1/runtime/models/load", {{"model", "embed/test"}});
  ASSERT_TRUE(load);
  ASSERT_EQ(load->status, 200) << load->body;
  auto list = json::parse(get("/v1/runtime/models")->body);
  ASSERT_EQ(list["models"].size(), 1u);
  EXPECT_EQ(list["models"][0]["state"], "loaded");
  EXPECT_EQ(list["models"][0]["memory_bytes"], 1234);
  EXPECT_EQ(list["models"][0]["aliases"][0], "embed/test");
  bool listed = false;
  for (const auto& a : list["aliases"])
    if (a["alias"] == "embed/test") listed = a["state"] == "loaded";
  EXPECT_TRUE(listed);

  auto unload = post("/v1/runtime/models/unload", {{"model", "embed/test"}});
  ASSERT_TRUE(unload);
  EXPECT_EQ(unload->status, 200);
  auto after = json::parse(get("/v1/runtime/models")->body);
  EXPECT_NE(after["models"][0]["state"], "loaded");

  auto unknown = post("/v1/runtime/models/load", {{"model", "nope"}});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

TEST_F(ServerTest, FailedLoadShowsItsErrorAndCountsInMetrics) {
  start({test_spec("embed/broken", ModelTask::embed, "fail-load")});
  auto r = post("/v1/runtime/models/load", {{"model", "embed/broken"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(error_code(r), "model_load_failed");
  auto list = json::parse(get("/v1/runtime/models")->body);
  EXPECT_EQ(list["models"][0]["state"], "failed");
  EXPECT_EQ(list["models"][0]["error"]["code"], "model_load_failed");
  EXPECT_NE(get("/metrics")->body.find("xervo_model_load_failures_total{key=\"embed:test:fail-load"),
            std::string::npos);
}

TEST_F(ServerTest, ReadyIs503UntilBackgroundLoadsFinish) {
  start({test_spec("embed/slow", ModelTask::embed, "slow-load", WarmupPolicy::background)});
  EXPECT_EQ(get("/health")->status, 200);
  auto r = get("/ready");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(json::parse(r->body)["pending"][0]["alias"], "embed/slow");
  probe->gate.open();
  runtime->wait_for_background_loads();
  EXPECT_EQ(get("/ready")->status, 200);
}

TEST_F(ServerTest, EventsStreamReportsLoads) {
  start();
  std::promise<std::string> seen;
  auto seen_future = seen.get_future();
  auto reader = std::async(std::launch::async, [&] {
    auto c = client();
    std::string got;
    bool done = false;
    c->Get("/v1/runtime/events", [&](const char* data, size_t n) {
      got.append(data, n);
      if (!done && got.find("event: loaded") != std::string::npos &&
          got.find("\n\n", got.find("event: loaded")) != std::string::npos) {
        done = true;
        seen.set_value(got);
        return false;
      }
      return true;
    });
    if (!done) seen.set_value(got);
  });
  // The subscription exists once the stream's first comment arrived; load until the event shows.
  std::future_status status = std::future_status::timeout;
  for (int i = 0; i < 100 && status != std::future_status::ready; ++i) {
    post("/v1/runtime/models/unload", {{"model", "rerank/test"}});
    post("/v1/runtime/models/load", {{"model", "rerank/test"}});
    status = seen_future.wait_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(status, std::future_status::ready);
  std::string text = seen_future.get();
  auto pos = text.find("event: loaded\ndata: ");
  ASSERT_NE(pos, std::string::npos) << text;
  auto data = json::parse(text.substr(pos + 20, text.find("\n\n", pos) - pos - 20));
  EXPECT_EQ(data["model"]["state"], "loaded");
  EXPECT_EQ(data["model"]["task"], "rerank");
  reader.get();
}

TEST_F(ServerTest, MetricsCountRequestsTokensAndLoads) {
  start();
  ASSERT_EQ(post("/v1/embeddings", {{"model", "embed/test"}, {"input", {"abcd", "ef"}}})->status, 200);
  ASSERT_EQ(
      post("/v1/chat/completions",
           {{"model", "chat/test"}, {"max_tokens", 3}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}})
          ->status,
      200);
  ASSERT_EQ(post("/v1/embeddings", {{"model", "nope"}, {"input", "x"}})->status, 404);
  // A request is counted when its access-log step runs, just after its last byte went out: a
  // client may see /metrics before that, so poll briefly.
  httplib::Result r = get("/metrics");
  Probe::eventually([&] {
    r = get("/metrics");
    return r && r->body.find("route=\"/v1/embeddings\",model=\"\",status=\"404\"} 1") != std::string::npos;
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const std::string& m = r->body;
  EXPECT_NE(
      m.find("xervo_http_requests_total{route=\"/v1/embeddings\",model=\"embed/test\",status=\"200\"} 1"),
      std::string::npos)
      << m;
  EXPECT_NE(m.find("xervo_http_requests_total{route=\"/v1/embeddings\",model=\"\",status=\"404\"} 1"),
            std::string::npos);
  EXPECT_NE(m.find("xervo_tokens_total{model=\"embed/test\",direction=\"in\"} 6"), std::string::npos);
  EXPECT_NE(m.find("xervo_tokens_total{model=\"chat/test\",direction=\"out\"} 3"), std::string::npos);
  EXPECT_NE(m.find("xervo_http_request_duration_seconds_count{route=\"/v1/embeddings\"} 2"),
            std::string::npos);
  EXPECT_NE(m.find("xervo_models_loaded 2"), std::string::npos);
  EXPECT_NE(m.find("xervo_model_load_duration_seconds_count{key=\"embed:test:echo"), std::string::npos);
  EXPECT_NE(m.find("xervo_queue_depth{model=\"embed:test:echo"), std::string::npos);
  EXPECT_NE(m.find("xervo_time_to_first_token_seconds_count{model=\"chat/test\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace xervo::testing
