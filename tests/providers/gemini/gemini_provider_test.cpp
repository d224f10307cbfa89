// The gemini provider against an in-process server speaking Gemini's wire format: embedContent,
// batchEmbedContents, generateContent, streamGenerateContent?alt=sse, and its error bodies.
#include <gtest/gtest.h>

#include <thread>

#include "net/local_server.h"
#include "xervo/providers.h"

namespace xervo {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::LocalServer;

constexpr const char* kKeyEnv = "XERVO_TEST_GEMINI_KEY";
constexpr const char* kKey = "AIzaTestKey0123456789abcdefghijklmnopq";

json gemini_reply(const std::string& text, const std::string& finish = "STOP") {
  return {{"candidates",
           {{{"content", {{"role", "model"}, {"parts", {{{"text", text}}}}}}, {"finishReason", finish}}}},
          {"usageMetadata", {{"promptTokenCount", 6}, {"candidatesTokenCount", 2}, {"totalTokenCount", 8}}}};
}

class Gemini : public ::testing::Test {
 protected:
  void SetUp() override { setenv(kKeyEnv, kKey, 1); }
  void TearDown() override {
    unsetenv(kKeyEnv);
    server.release();
  }

  json settings(json extra = json::object()) {
    json s = {{"base_url", server.url("/v1beta")},
              {"api_key_env", kKeyEnv},
              {"timeout_ms", 10000},
              {"retry", {{"max_attempts", 2}, {"base_delay_ms", 5}, {"max_delay_ms", 20}}}};
    s.update(extra);
    return s;
  }
  LoadedModel load(ModelTask task, json extra = json::object(), std::string model = "gemini-test") {
    ModelSpec spec;
    spec.alias = "g";
    spec.task = task;
    spec.provider = "gemini";
    spec.model = std::move(model);
    auto loaded = make_gemini_provider(settings(std::move(extra)))->load(spec, {});
    EXPECT_TRUE(loaded.ok()) << loaded.error().to_string();
    return loaded.ok() ? *loaded : LoadedModel{};
  }
  Result<GenerateResult> generate_text(bool stream) {
    auto model = load(ModelTask::generate);
    GenerateRequest req;
    req.prompt = "hi";
    if (!stream) return model.generator->generate(req);
    return model.generator->generate(req, [](std::string_view) { return true; });
  }

  LocalServer server;
  std::vector<json> bodies;
  std::vector<std::string> keys;
};

TEST_F(Gemini, OneInputUsesEmbedContentWithTheKeyHeader) {
  server.http().Post(R"(/v1beta/models/gemini-test:embedContent)",
                     [&](const httplib::Request& req, httplib::Response& res) {
                       bodies.push_back(json::parse(req.body));
                       keys.push_back(req.get_header_value("x-goog-api-key"));
                       res.set_content(R"({"embedding":{"values":[0.1,0.2,0.3]}})", "application/json");
                     });
  server.start();
  auto model =
      load(ModelTask::embed, {{"dimensions", 3}, {"task_type", "RETRIEVAL_QUERY"}}, "models/gemini-test");
  std::vector<std::string> inputs = {"hello"};
  auto r = model.embedding->embed(inputs);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->vectors[0], (std::vector<float>{0.1f, 0.2f, 0.3f}));
  EXPECT_EQ(r->dimensions, 3);
  EXPECT_EQ(keys[0], kKey);
  EXPECT_EQ(bodies[0]["content"]["parts"][0]["text"], "hello");
  EXPECT_EQ(bodies[0]["outputDimensionality"], 3);
  EXPECT_EQ(bodies[0]["taskType"], "RETRIEVAL_QUERY");
}

TEST_F(Gemini, ManyInputsUseBatchEmbedContentsInOrder) {
  server.http().Post(R"(/v1beta/models/gemini-test:batchEmbedContents)", [&](const httplib::Request& req,
                                                                             httplib::Response& res) {
    auto body = json::parse(req.body);
    bodies.push_back(body);
    json list = json::array();
    for (const auto& r : body["requests"])
      list.push_back({{"values", {r["content"]["parts"][0]["text"].get<std::string>().size(), 1.0}}});
    res.set_content(json({{"embeddings", list}}).dump(), "application/json");
  });
  server.start();
  auto model = load(ModelTask::embed, {{"max_batch_inputs", 2}});
  std::vector<std::string> inputs = {"a", "bb", "ccc"};
  auto r = model.embedding->embed(inputs);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->vectors.size(), 3u);
  EXPECT_EQ(r->vectors[2][0], 3.0f);
  EXPECT_EQ(model.embedding->dimensions(), 2);
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(bodies[0]["requests"][0]["model"], "models/gemini-test");
  EXPECT_EQ(bodies[1]["requests"].size(), 1u);
}

TEST_F(Gemini, GenerateMapsRolesSystemInstructionAndConfig) {
  server.http().Post(R"(/v1beta/models/gemini-test:generateContent)",
                     [&](const httplib::Request& req, httplib::Response& res) {
                       bodies.push_back(json::parse(req.body));
                       res.set_content(gemini_reply("{\"a\":1}", "MAX_TOKENS").dump(), "application/json");
                     });
  server.start();
  auto model = load(ModelTask::generate);
  GenerateRequest req;
  req.messages = {{"system", "be brief"}, {"user", "hi"}, {"assistant", "hello"}, {"user", "json please"}};
  req.options.temperature = 0.2f;
  req.options.top_k = 5;
  req.options.max_tokens = 9;
  req.options.seed = 3;
  req.options.stop = {"END"};
  req.options.json_schema = R"({"type":"object"})";
  auto r = model.generator->generate(req);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->text, "{\"a\":1}");
  EXPECT_EQ(r->finish_reason, FinishReason::length);
  EXPECT_EQ(r->usage.prompt_tokens, 6);
  EXPECT_EQ(r->usage.completion_tokens, 2);
  const json& b = bodies.back();
  EXPECT_EQ(b["systemInstruction"]["parts"][0]["text"], "be brief");
  ASSERT_EQ(b["contents"].size(), 3u);
  EXPECT_EQ(b["contents"][1]["role"], "model");
  EXPECT_EQ(b["contents"][2]["parts"][0]["text"], "json please");
  const json& c = b["generationConfig"];
  EXPECT_FLOAT_EQ(c["temperature"].get<float>(), 0.2f);
  EXPECT_EQ(c["topK"], 5);
  EXPECT_EQ(c["maxOutputTokens"], 9);
  EXPECT_EQ(c["seed"], 3);
  EXPECT_EQ(c["stopSequences"], json({"END"}));
  EXPECT_EQ(c["responseMimeType"], "application/json");
  EXPECT_EQ(c["responseJsonSchema"], json({{"type", "object"}}));
}

TEST_F(Gemini, PenaltiesCandidatesAndLogprobsMapToGeminisFields) {
  server.http().Post(R"(/v1beta/models/gemini-test:generateContent)", [&](const httplib::Request& req,
                                                                          httplib::Response& res) {
    bodies.push_back(json::parse(req.body));
    json lp = {
        {"chosenCandidates", {{{"token", "Hi"}, {"logProbability", -0.5}}}},
        {"topCandidates",
         {{{"candidates",
            {{{"token", "Hi"}, {"logProbability", -0.5}}, {{"token", "Yo"}, {"logProbability", -1.5}}}}}}}};
    json reply = gemini_reply("Hi");
    reply["candidates"][0]["logprobsResult"] = lp;
    reply["candidates"].push_back(
        {{"content", {{"parts", {{{"text", "Yo"}}}}}}, {"finishReason", "MAX_TOKENS"}});
    res.set_content(reply.dump(), "application/json");
  });
  server.start();
  auto model = load(ModelTask::generate);
  GenerateRequest req;
  req.prompt = "hi";
  req.options.presence_penalty = 0.5f;
  req.options.frequency_penalty = 1.0f;
  req.options.n = 2;
  req.options.logprobs = true;
  req.options.top_logprobs = 2;
  auto r = model.generator->generate(req);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const json& c = bodies.back()["generationConfig"];
  EXPECT_FLOAT_EQ(c["presencePenalty"].get<float>(), 0.5f);
  EXPECT_FLOAT_EQ(c["frequencyPenalty"].get<float>(), 1.0f);
  EXPECT_EQ(c["candidateCount"], 2);
  EXPECT_EQ(c["responseLogprobs"], true);
  EXPECT_EQ(c["logprobs"], 2);
  ASSERT_EQ(r->choice_count(), 2u);
  EXPECT_EQ(r->choice(1).text, "Yo");
  EXPECT_EQ(r->choice(1).finish_reason, FinishReason::length);
  ASSERT_EQ(r->logprobs.size(), 1u);
  EXPECT_DOUBLE_EQ(r->logprobs[0].logprob, -0.5);
  ASSERT_EQ(r->logprobs[0].top.size(), 2u);
  EXPECT_EQ(r->logprobs[0].top[1].token, "Yo");
}

TEST_F(Gemini, WhatGeminiCannotDoIsRefusedClearly) {
  server.start();
  auto model = load(ModelTask::generate);
  GenerateRequest req;
  req.prompt = "hi";
  req.options.logit_bias = {{5, 1.0f}};
  auto bias = model.generator->generate(req);
  ASSERT_FALSE(bias.ok());
  EXPECT_EQ(bias.error().code(), ErrorCode::invalid_input);
  EXPECT_NE(bias.error().message().find("logit_bias"), std::string::npos);
  req.options.logit_bias.clear();
  req.options.n = 2;
  auto streamed = model.generator->generate(req, [](std::string_view) { return true; });
  ASSERT_FALSE(streamed.ok());
  EXPECT_EQ(streamed.error().code(), ErrorCode::invalid_input);
  EXPECT_NE(streamed.error().message().find("stream"), std::string::npos);
}

TEST_F(Gemini, StreamsOverSseUntilFinishReason) {
  std::string alt;
  server.http().Post(R"(/v1beta/models/gemini-test:streamGenerateContent)",
                     [&](const httplib::Request& req, httplib::Response& res) {
                       alt = req.get_param_value("alt");
                       std::string body;
                       json first = {{"candidates", {{{"content", {{"parts", {{{"text", "Hel"}}}}}}}}}};
                       body += "data: " + first.dump() + "\r\n\r\n";
                       body += "data: " + gemini_reply("lo").dump() + "\r\n\r\n";
                       res.set_content(body, "text/event-stream");
                     });
  server.start();
  auto model = load(ModelTask::generate);
  GenerateRequest req;
  req.prompt = "hi";
  std::vector<std::string> pieces;
  auto r = model.generator->generate(req, [&](std::string_view p) {
    pieces.emplace_back(p);
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(alt, "sse");
  EXPECT_EQ(pieces, (std::vector<std::string>{"Hel", "lo"}));
  EXPECT_EQ(r->text, "Hello");
  EXPECT_EQ(r->finish_reason, FinishReason::stop);
  EXPECT_EQ(r->usage.prompt_tokens, 6);
}

TEST_F(Gemini, StreamWithoutFinishReasonIsInferenceFailed) {
  server.http().Post(R"(/v1beta/models/gemini-test:streamGenerateContent)",
                     [&](const httplib::Request&, httplib::Response& res) {
                       json first = {{"candidates", {{{"content", {{"parts", {{{"text", "Hel"}}}}}}}}}};
                       res.set_content("data: " + first.dump() + "\n\n", "text/event-stream");
                     });
  server.start();
  auto r = generate_text(true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::inference_failed);
}

TEST_F(Gemini, ErrorStatusesMapToCodes) {
  struct Case {
    int http;
    std::string status;
    std::string message;
    ErrorCode expected;
  };
  const std::vector<Case> cases = {
      {400, "INVALID_ARGUMENT", "bad field", ErrorCode::invalid_input},
      {400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", ErrorCode::unauthorized},
      {403, "PERMISSION_DENIED", "no access", ErrorCode::forbidden},
      {404, "NOT_FOUND", "models/gemini-test is not found", ErrorCode::model_not_found},
      {429, "RESOURCE_EXHAUSTED", "quota", ErrorCode::rate_limited},
      {503, "UNAVAILABLE", "overloaded", ErrorCode::unavailable},
      {504, "DEADLINE_EXCEEDED", "slow", ErrorCode::timeout},
  };
  size_t current = 0;
  server.http().Post(
      R"(/v1beta/models/gemini-test:generateContent)", [&](const httplib::Request&, httplib::Response& res) {
        ++server.requests;
        const Case& c = cases[current];
        res.status = c.http;
        res.set_content(
            json({{"error", {{"code", c.http}, {"message", c.message}, {"status", c.status}}}}).dump(),
            "application/json");
      });
  server.start();
  for (current = 0; current < cases.size(); ++current) {
    server.requests = 0;
    auto r = generate_text(false);
    ASSERT_FALSE(r.ok()) << cases[current].status;
    EXPECT_EQ(r.error().code(), cases[current].expected)
        << cases[current].status << ": " << r.error().to_string();
    EXPECT_EQ(r.error().message().find(kKey), std::string::npos);
    const bool retried = cases[current].http >= 429;
    EXPECT_EQ(server.requests.load(), retried ? 2 : 1) << cases[current].status;
  }
}

TEST_F(Gemini, BadKeyNamesTheVariable) {
  server.http().Post(R"(/v1beta/models/gemini-test:generateContent)", [&](const httplib::Request& req,
                                                                          httplib::Response& res) {
    res.status = 400;
    res.set_content(json({{"error",
                           {{"code", 400},
                            {"message", "API key not valid: " + req.get_header_value("x-goog-api-key")},
                            {"status", "INVALID_ARGUMENT"},
                            {"details", {{{"reason", "API_KEY_INVALID"}}}}}}})
                        .dump(),
                    "application/json");
  });
  server.start();
  auto r = generate_text(false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::unauthorized);
  EXPECT_NE(r.error().message().find(kKeyEnv), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().message().find("0123456789abcdef"), std::string::npos) << r.error().message();
}

TEST_F(Gemini, RateLimitIsRetriedThenSucceeds) {
  server.http().Post(
      R"(/v1beta/models/gemini-test:generateContent)", [&](const httplib::Request&, httplib::Response& res) {
        if (++server.requests == 1) {
          res.status = 429;
          res.set_header("Retry-After", "0");
          res.set_content(R"({"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}})",
                          "application/json");
          return;
        }
        res.set_content(gemini_reply("fine").dump(), "application/json");
      });
  server.start();
  auto r = generate_text(false);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->text, "fine");
  EXPECT_EQ(server.requests.load(), 2);
}

TEST_F(Gemini, BlockedPromptIsInvalidInput) {
  server.http().Post(R"(/v1beta/models/gemini-test:generateContent)",
                     [&](const httplib::Request&, httplib::Response& res) {
                       res.set_content(R"({"promptFeedback":{"blockReason":"SAFETY"}})", "application/json");
                     });
  server.start();
  auto r = generate_text(false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::invalid_input);
  EXPECT_NE(r.error().message().find("SAFETY"), std::string::npos);
}

TEST_F(Gemini, MalformedBodyIsInferenceFailed) {
  server.http().Post(R"(/v1beta/models/gemini-test:generateContent)",
                     [&](const httplib::Request&, httplib::Response& res) {
                       res.set_content(R"({"candidates": "nope"})", "application/json");
                     });
  server.start();
  auto r = generate_text(false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::inference_failed);
}

TEST_F(Gemini, CancelledStreamClosesTheConnection) {
  server.http().Post(R"(/v1beta/models/gemini-test:streamGenerateContent)", [&](const httplib::Request&,
                                                                                httplib::Response& res) {
    res.set_chunked_content_provider("text/event-stream", [&](size_t, httplib::DataSink& sink) {
      json chunk = {{"candidates", {{{"content", {{"parts", {{{"text", "x"}}}}}}}}}};
      const std::string event = "data: " + chunk.dump() + "\n\n";
      for (int i = 0; i < 500; ++i) {
        if (!sink.is_writable() || !sink.write(event.data(), event.size())) {
          ++server.disconnects;
          return false;
        }
        std::this_thread::sleep_for(10ms);
      }
      sink.done();
      return true;
    });
  });
  server.start();
  auto model = load(ModelTask::generate);
  GenerateRequest req;
  req.prompt = "go";
  int n = 0;
  auto r = model.generator->generate(req, [&](std::string_view) { return ++n < 2; });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->finish_reason, FinishReason::cancelled);
  for (int i = 0; i < 300 && server.disconnects.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server.disconnects.load(), 1);
}

TEST_F(Gemini, RerankAndBadModelNamesAreRefusedAtLoad) {
  server.start();
  auto provider = make_gemini_provider(settings());
  ModelSpec spec;
  spec.alias = "g";
  spec.provider = "gemini";
  spec.model = "gemini-test";
  spec.task = ModelTask::rerank;
  auto r = provider->load(spec, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::capability_mismatch);
  spec.task = ModelTask::generate;
  spec.model = "../../evil?x=1";
  auto bad = provider->load(spec, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::config_invalid);
}

}  // namespace
}  // namespace xervo

namespace xervo {
namespace {

TEST_F(Gemini, HealthNeedsAKeyAndListsModels) {
  std::string key_seen;
  server.http().Get("/v1beta/models", [&](const httplib::Request& req, httplib::Response& res) {
    key_seen = req.get_header_value("x-goog-api-key");
    res.set_content(R"({"models":[]})", "application/json");
  });
  server.start();
  auto healthy = make_gemini_provider(settings())->health();
  EXPECT_TRUE(healthy.ok) << healthy.detail;
  EXPECT_EQ(key_seen, kKey);
  unsetenv(kKeyEnv);
  auto no_key = make_gemini_provider(settings())->health();
  EXPECT_FALSE(no_key.ok);
  EXPECT_NE(no_key.detail.find(kKeyEnv), std::string::npos) << no_key.detail;
}

}  // namespace
}  // namespace xervo

namespace xervo {
namespace {

TEST_F(Gemini, UnknownSettingKeysAreConfigInvalidNamingTheKey) {
  server.start();
  ModelSpec spec;
  spec.alias = "g";
  spec.provider = "gemini";
  spec.model = "gemini-test";
  spec.task = ModelTask::embed;
  auto typo = make_gemini_provider(settings({{"task_typ", "RETRIEVAL_QUERY"}}));
  auto r = typo->load(spec, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::config_invalid);
  EXPECT_NE(r.error().message().find("[providers.gemini] task_typ: unknown key"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("task_type"), std::string::npos);  // the known keys are listed
  auto health = typo->health();
  EXPECT_FALSE(health.ok);
  EXPECT_NE(health.detail.find("task_typ"), std::string::npos) << health.detail;
  EXPECT_EQ(server.requests.load(), 0);

  spec.options = {{"generation_cfg", json::object()}};
  auto r2 = make_gemini_provider(settings())->load(spec, {});
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message().find("options.generation_cfg: unknown key"), std::string::npos)
      << r2.error().message();

  // openai-only keys are not gemini's.
  spec.options = {{"organization", "x"}};
  EXPECT_FALSE(make_gemini_provider(settings())->load(spec, {}).ok());
  spec.options = {{"task_type", "RETRIEVAL_QUERY"},
                  {"json_schema_field", "responseSchema"},
                  {"generation_config", json::object()},
                  {"max_batch_inputs", 5},
                  {"dimensions", 8}};
  EXPECT_TRUE(make_gemini_provider(settings())->load(spec, {}).ok());
}

TEST_F(Gemini, UnknownKeyInTheConfigFailsBuildWithItsLine) {
  auto config = parse_config(R"([providers.gemini]
api_key_env = "X"
baseurl = "http://127.0.0.1:1"
)");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  RuntimeBuilder builder;
  builder.add_config(*config);
  builder.add_provider(make_gemini_provider(builder.provider_settings("gemini")));
  auto rt = builder.build();
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.error().code(), ErrorCode::config_invalid);
  EXPECT_NE(rt.error().message().find("xervo.toml:3: providers.gemini.baseurl: unknown key"),
            std::string::npos)
      << rt.error().message();
}

}  // namespace
}  // namespace xervo
