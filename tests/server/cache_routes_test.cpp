// The response cache over HTTP: X-Cache on each endpoint, Cache-Control from the client, a
// streamed hit replaying the same chunks, the management routes and the metrics.
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace xervo::testing {
namespace {

class CacheRoutes : public ServerTest {
 protected:
  void SetUp() override {
    CacheOptions o;
    o.enabled = true;
    o.disk_bytes = 0;
    cache = o;
    start();
  }

  // The delta texts of an SSE chat stream, in order (ids and timestamps differ between responses).
  static std::vector<std::string> stream_contents(const std::string& body) {
    std::vector<std::string> out;
    size_t pos = 0;
    while ((pos = body.find("data: ", pos)) != std::string::npos) {
      size_t end = body.find("\n\n", pos);
      std::string data = body.substr(pos + 6, end - pos - 6);
      pos = end;
      if (data == "[DONE]") {
        out.push_back("[DONE]");
        continue;
      }
      auto j = nlohmann::json::parse(data, nullptr, false);
      if (!j.is_object() || !j.contains("choices") || j["choices"].empty()) continue;
      const auto& c = j["choices"][0];
      std::string piece =
          c.contains("delta") && c["delta"].contains("content") && c["delta"]["content"].is_string()
              ? c["delta"]["content"].get<std::string>()
              : "";
      if (c.contains("finish_reason") && c["finish_reason"].is_string())
        piece += "|" + c["finish_reason"].get<std::string>();
      out.push_back(piece);
    }
    return out;
  }
};

TEST_F(CacheRoutes, EmbeddingsMissThenHitAndNoCacheSkipsTheLookup) {
  nlohmann::json body = {{"model", "embed/test"}, {"input", {"a", "bb"}}};
  auto first = post("/v1/embeddings", body);
  ASSERT_EQ(first->status, 200) << first->body;
  EXPECT_EQ(first->get_header_value("X-Cache"), "miss");
  auto second = post("/v1/embeddings", body);
  EXPECT_EQ(second->get_header_value("X-Cache"), "hit");
  EXPECT_EQ(nlohmann::json::parse(second->body)["data"], nlohmann::json::parse(first->body)["data"]);
  EXPECT_EQ(probe->started.load(), 1);

  auto fresh = post("/v1/embeddings", body, {{"Cache-Control", "no-cache"}});
  EXPECT_EQ(fresh->get_header_value("X-Cache"), "miss");
  EXPECT_EQ(probe->started.load(), 2);

  auto partial = post("/v1/embeddings", {{"model", "embed/test"}, {"input", {"a", "new"}}});
  EXPECT_EQ(partial->get_header_value("X-Cache"), "miss");
  EXPECT_EQ(partial->get_header_value("X-Cache-Hits"), "1/2");
}

TEST_F(CacheRoutes, NoStoreKeepsNothing) {
  nlohmann::json body = {{"model", "embed/test"}, {"input", "once"}};
  post("/v1/embeddings", body, {{"Cache-Control", "No-Store"}});
  auto again = post("/v1/embeddings", body);
  EXPECT_EQ(again->get_header_value("X-Cache"), "miss");
  EXPECT_EQ(probe->started.load(), 2);
}

TEST_F(CacheRoutes, GreedyChatIsCachedAndAStreamedHitReplaysTheSameChunks) {
  nlohmann::json body = {{"model", "chat/test"},
                         {"messages", {{{"role", "user"}, {"content", "hello"}}}},
                         {"temperature", 0},
                         {"max_tokens", 4}};
  auto first = post("/v1/chat/completions", body);
  ASSERT_EQ(first->status, 200) << first->body;
  EXPECT_EQ(first->get_header_value("X-Cache"), "miss");
  auto second = post("/v1/chat/completions", body);
  EXPECT_EQ(second->get_header_value("X-Cache"), "hit");
  EXPECT_EQ(nlohmann::json::parse(second->body)["choices"], nlohmann::json::parse(first->body)["choices"]);
  EXPECT_EQ(probe->started.load(), 1);

  body["stream"] = true;
  body["messages"][0]["content"] = "streamed";
  auto live = post("/v1/chat/completions", body);
  ASSERT_EQ(live->status, 200);
  auto replay = post("/v1/chat/completions", body);
  ASSERT_EQ(replay->status, 200);
  EXPECT_EQ(probe->started.load(), 2);
  auto a = stream_contents(live->body), b = stream_contents(replay->body);
  EXPECT_GE(a.size(), 5u);  // four pieces, the finish, [DONE]
  EXPECT_EQ(a, b);
}

TEST_F(CacheRoutes, SampledChatIsNotCached) {
  nlohmann::json body = {{"model", "chat/test"}, {"prompt", "x"}, {"temperature", 0.7}, {"max_tokens", 2}};
  post("/v1/completions", body);
  auto again = post("/v1/completions", body);
  EXPECT_EQ(again->get_header_value("X-Cache"), "miss");
  EXPECT_EQ(probe->started.load(), 2);
}

TEST_F(CacheRoutes, StatsClearAndMetrics) {
  nlohmann::json body = {{"model", "rerank/test"}, {"query", "q"}, {"documents", {"a", "b"}}};
  post("/v1/rerank", body);
  EXPECT_EQ(post("/v1/rerank", body)->get_header_value("X-Cache"), "hit");
  auto stats = get("/v1/runtime/cache");
  ASSERT_EQ(stats->status, 200) << stats->body;
  auto s = nlohmann::json::parse(stats->body);
  EXPECT_TRUE(s["enabled"].get<bool>());
  EXPECT_EQ(s["memory"]["hits"], 1);
  EXPECT_EQ(s["memory"]["entries"], 1);
  auto metrics = get("/metrics");
  EXPECT_NE(metrics->body.find("xervo_cache_hits_total{tier=\"memory\"} 1"), std::string::npos);

  auto cleared = post("/v1/runtime/cache/clear", nlohmann::json::object());
  ASSERT_EQ(cleared->status, 200) << cleared->body;
  EXPECT_EQ(nlohmann::json::parse(cleared->body)["cache"]["memory"]["entries"], 0);
  EXPECT_EQ(post("/v1/rerank", body)->get_header_value("X-Cache"), "miss");
}

}  // namespace
}  // namespace xervo::testing
