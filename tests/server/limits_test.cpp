// Authentication, scopes, rate limits, body and input limits, per-model queue limits, CORS,
// request ids, and hostile bodies: every refusal has the right status and OpenAI-shaped body.
#include <future>
#include <random>

#include "server_fixture.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

const json kEmbed = {{"model", "embed/test"}, {"input", "hello"}};

void add_keys(ServerOptions& o) {
  o.keys.push_back({"app", sha256_hex("app-key"), {"inference"}});
  o.keys.push_back({"ops", sha256_hex("ops-key"), {"admin"}});
}

httplib::Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

TEST_F(ServerTest, AuthMissingOrWrongKeyIs401) {
  add_keys(options);
  start();
  auto none = post("/v1/embeddings", kEmbed);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(error_code(none), "unauthorized");
  auto wrong = post("/v1/embeddings", kEmbed, bearer("nope"));
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto basic = post("/v1/embeddings", kEmbed, {{"Authorization", "Basic YTpi"}});
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->status, 401);
  auto ok = post("/v1/embeddings", kEmbed, bearer("app-key"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto models = get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 401);
}

TEST_F(ServerTest, HealthNeedsNoKey) {
  add_keys(options);
  start();
  auto r = get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto ready = get("/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 401);
}

TEST_F(ServerTest, InferenceKeyOnManagementIs403AdminKeyPasses) {
  add_keys(options);
  start();
  auto r = get("/v1/runtime/models", bearer("app-key"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(error_code(r), "forbidden");
  auto load = post("/v1/runtime/models/load", {{"model", "embed/test"}}, bearer("app-key"));
  ASSERT_TRUE(load);
  EXPECT_EQ(load->status, 403);
  auto admin = get("/v1/runtime/models", bearer("ops-key"));
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->status, 200);
  auto admin_infers = post("/v1/embeddings", kEmbed, bearer("ops-key"));
  ASSERT_TRUE(admin_infers);
  EXPECT_EQ(admin_infers->status, 200);
}

TEST_F(ServerTest, RequestsPerMinuteGive429WithRetryAfter) {
  add_keys(options);
  options.keys[0].requests_per_minute = 2;
  start();
  EXPECT_EQ(post("/v1/embeddings", kEmbed, bearer("app-key"))->status, 200);
  EXPECT_EQ(post("/v1/embeddings", kEmbed, bearer("app-key"))->status, 200);
  auto r = post("/v1/embeddings", kEmbed, bearer("app-key"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(error_code(r), "rate_limited");
  int retry = std::stoi("0" + r->get_header_value("Retry-After"));
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 30);
  // Another key has its own bucket.
  EXPECT_EQ(post("/v1/embeddings", kEmbed, bearer("ops-key"))->status, 200);
}

TEST_F(ServerTest, TokensPerMinuteGive429OnceSpent) {
  options.tokens_per_minute = 10;  // no keys: the client address is the bucket
  start();
  auto first = post("/v1/embeddings", {{"model", "embed/test"}, {"input", std::string(50, 'a')}});
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  auto second = post("/v1/embeddings", kEmbed);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 429);
  EXPECT_GE(std::stoi("0" + second->get_header_value("Retry-After")), 1);
}

TEST_F(ServerTest, BodyOverTheLimitIs413) {
  options.max_body_bytes = 4096;
  start();
  json big = {{"model", "embed/test"}, {"input", std::string(20000, 'x')}};
  auto r = post("/v1/embeddings", big);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(error_message(r).find("max_body_bytes"), std::string::npos) << r->body;
}

TEST_F(ServerTest, TooManyInputsAndTooManyTokensAre400) {
  options.max_inputs = 3;
  options.max_tokens = 100;
  start();
  auto inputs = post("/v1/embeddings", {{"model", "embed/test"}, {"input", {"a", "b", "c", "d"}}});
  ASSERT_TRUE(inputs);
  EXPECT_EQ(inputs->status, 400);
  EXPECT_NE(error_message(inputs).find("max_inputs"), std::string::npos);
  auto docs =
      post("/v1/rerank", {{"model", "rerank/test"}, {"query", "q"}, {"documents", {"a", "b", "c", "d"}}});
  ASSERT_TRUE(docs);
  EXPECT_EQ(docs->status, 400);
  auto tokens = post(
      "/v1/chat/completions",
      {{"model", "chat/test"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", 101}});
  ASSERT_TRUE(tokens);
  EXPECT_EQ(tokens->status, 400);
  EXPECT_NE(error_message(tokens).find("max_tokens"), std::string::npos);
}

TEST_F(ServerTest, FullModelQueueIs503WithRetryAfterAtOnce) {
  options.max_queue_per_model = 1;
  start();
  auto held = std::async(std::launch::async, [&] {
    return post("/v1/embeddings", {{"model", "embed/gated"}, {"input", "x"}})->status;
  });
  ASSERT_TRUE(Probe::eventually([&] { return probe->started.load() == 1; }));
  auto r = post("/v1/embeddings", {{"model", "embed/gated"}, {"input", "y"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(error_code(r), "unavailable");
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  // Other models have their own queue.
  EXPECT_EQ(post("/v1/embeddings", kEmbed)->status, 200);
  probe->gate.open();
  EXPECT_EQ(held.get(), 200);
  EXPECT_EQ(post("/v1/embeddings", {{"model", "embed/gated"}, {"input", "z"}})->status, 200);
}

TEST_F(ServerTest, CorsPreflightAndOriginAllowList) {
  options.cors_origins = {"http://app.example"};
  add_keys(options);
  start();
  httplib::Headers pre = {{"Origin", "http://app.example"},
                          {"Access-Control-Request-Method", "POST"},
                          {"Access-Control-Request-Headers", "authorization, content-type"}};
  auto ok = client()->Options("/v1/embeddings", pre);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 204);  // preflight needs no key
  EXPECT_EQ(ok->get_header_value("Access-Control-Allow-Origin"), "http://app.example");
  EXPECT_NE(ok->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  EXPECT_EQ(ok->get_header_value("Access-Control-Allow-Headers"), "authorization, content-type");

  auto other = client()->Options("/v1/embeddings", {{"Origin", "http://evil.example"}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 403);
  EXPECT_FALSE(other->has_header("Access-Control-Allow-Origin"));

  httplib::Headers h = bearer("app-key");
  h.emplace("Origin", "http://app.example");
  auto real = post("/v1/embeddings", kEmbed, h);
  ASSERT_TRUE(real);
  EXPECT_EQ(real->status, 200);
  EXPECT_EQ(real->get_header_value("Access-Control-Allow-Origin"), "http://app.example");
}

TEST_F(ServerTest, RequestIdIsEchoedWhenSaneAndReplacedOtherwise) {
  start();
  auto mine = get("/health", {{"X-Request-Id", "client-id_42.a:b"}});
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->get_header_value("X-Request-Id"), "client-id_42.a:b");
  auto hostile = get("/health", {{"X-Request-Id", "bad id\"<script>"}});
  ASSERT_TRUE(hostile);
  std::string id = hostile->get_header_value("X-Request-Id");
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(id.find('<'), std::string::npos);
  auto error = post("/v1/embeddings", {{"model", "none"}, {"input", "x"}}, {{"X-Request-Id", "err-1"}});
  ASSERT_TRUE(error);
  EXPECT_EQ(error->get_header_value("X-Request-Id"), "err-1");
}

TEST_F(ServerTest, ManyConcurrentClientsAreAllServed) {
  options.threads = 16;
  start();
  std::vector<std::future<int>> clients;
  for (int t = 0; t < 12; ++t) {
    clients.push_back(std::async(std::launch::async, [this, t] {
      auto c = client();
      int ok = 0;
      for (int i = 0; i < 15; ++i) {
        std::string n = std::to_string(t * 100 + i);
        auto e = c->Post("/v1/embeddings", json{{"model", "embed/test"}, {"input", {n, n + n}}}.dump(),
                         "application/json");
        auto g = c->Post("/v1/chat/completions",
                         json{{"model", "chat/test"},
                              {"max_tokens", 2},
                              {"stream", i % 2 == 0},
                              {"messages", {{{"role", "user"}, {"content", n}}}}}
                             .dump(),
                         "application/json");
        ok += (e && e->status == 200) + (g && g->status == 200);
      }
      return ok;
    }));
  }
  int total = 0;
  for (auto& f : clients) total += f.get();
  EXPECT_EQ(total, 12 * 15 * 2);
  // Counted by the access-log step just after the last byte: poll briefly.
  EXPECT_TRUE(Probe::eventually([&] {
    auto m = get("/metrics");
    return m && m->body.find(
                    "xervo_http_requests_total{route=\"/v1/embeddings\",model=\"embed/test\",status=\"200\"} "
                    "180") != std::string::npos;
  }));
}

TEST_F(ServerTest, HostileBodiesAre400WithAnErrorSayingWhy) {
  start();
  std::vector<std::string> bodies = {
      "",
      "null",
      "[]",
      "\"text\"",
      "{}",
      "{\"model\": null}",
      "{\"model\": \"embed/test\", \"input\": null}",
      "{\"model\": \"embed/test\", \"input\": [[1,2],[3]]}",
      "{\"model\": \"embed/test\", \"input\": {\"a\": 1}}",
      "{\"model\": \"embed/test\", \"input\": \"\xff\xfe\"}",
      "{\"model\": \"embed/test\", \"input\": \"x\", \"dimensions\": -1}",
      "{\"model\": \"embed/test\", \"input\": \"x\", \"dimensions\": 1e300}",
      "{\"model\": \"chat/test\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": "
      "\"image_url\"}]}]}",
      "{\"model\": \"chat/test\", \"messages\": [null]}",
      "{\"model\": \"chat/test\", \"messages\": \"hi\"}",
      "{\"model\": \"chat/test\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": "
      "1.5}",
      "{\"model\": \"chat/test\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"seed\": 1e40}",
      "{\"model\": \"chat/test\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], "
      "\"response_format\": {\"type\": \"json_schema\"}}",
      "{\"model\": \"chat/test\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], "
      "\"stream_options\": 5}",
      "{\"model\": \"rerank/test\", \"query\": \"q\", \"documents\": [\"a\"], \"top_n\": 0}",
      std::string(1000, '['),
      "{\"model\": \"embed/test\", \"input\": \"x\"" + std::string(10, ','),
  };
  std::mt19937 rng(7);
  for (int i = 0; i < 40; ++i) {
    std::string junk(static_cast<size_t>(rng() % 300), '\0');
    for (auto& c : junk) c = static_cast<char>(rng() % 256);
    bodies.push_back(junk);
  }
  for (const char* path : {"/v1/embeddings", "/v1/chat/completions", "/v1/completions", "/v1/rerank"}) {
    for (const auto& body : bodies) {
      auto r = post_raw(path, body);
      ASSERT_TRUE(r) << path << " " << body;
      // Every one of them is a malformed request: a 400 with an error saying what is wrong.
      EXPECT_EQ(r->status, 400) << path << " " << body << " -> " << r->body;
      std::string code = error_code(r);
      EXPECT_TRUE(code == "invalid_input" || code == "capability_mismatch") << path << " " << body << " -> " << r->body;
      EXPECT_FALSE(error_message(r).empty());
    }
  }
  EXPECT_EQ(get("/health")->status, 200);
}

}  // namespace
}  // namespace xervo::testing

namespace xervo::testing {
namespace {

TEST_F(ServerTest, AWaitForAnotherRequestsLoadEndsAtRequestTimeoutWith504) {
  options.request_timeout = std::chrono::seconds(1);
  start({test_spec("embed/slow", ModelTask::embed, "slow-load")});
  // The first request starts the load, which the provider holds at the gate.
  auto first = std::async(std::launch::async,
                          [&] { return post("/v1/embeddings", {{"model", "embed/slow"}, {"input", "a"}}); });
  ASSERT_TRUE(Probe::eventually([&] { return probe->loads.load() == 1; }));
  // The second waits for that load, and only until its own request_timeout.
  auto second = post("/v1/embeddings", {{"model", "embed/slow"}, {"input", "b"}});
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 504) << second->body;
  EXPECT_EQ(error_code(second), "timeout");
  EXPECT_EQ(probe->loads.load(), 1);  // it waited; it did not start a second load
  probe->gate.open();
  auto r = first.get();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->status == 200 || r->status == 504) << r->status;
}

}  // namespace
}  // namespace xervo::testing
