// The openai provider speaking the OpenAI wire format: embeddings (batched, reordered), chat
// completions (whole and streamed), rerank, health, settings.
#include <gtest/gtest.h>

#include <mutex>

#include "providers/openai/fake_openai.h"

namespace xervo {
namespace {

using nlohmann::json;
using testing::LocalServer;

class OpenAiProvider : public ::testing::Test {
 protected:
  void SetUp() override { setenv(testing::kTestKeyEnv, testing::kTestKey, 1); }
  void TearDown() override { unsetenv(testing::kTestKeyEnv); }

  LoadedModel load(ModelTask task, json extra = json::object(), json options = json::object()) {
    auto provider = make_openai_provider(testing::openai_settings(server, std::move(extra)));
    auto spec = testing::openai_spec(task);
    spec.options = std::move(options);
    auto loaded = provider->load(spec, {});
    EXPECT_TRUE(loaded.ok()) << loaded.error().to_string();
    return loaded.ok() ? *loaded : LoadedModel{};
  }

  LocalServer server;
  std::mutex mutex;
  std::vector<json> bodies;  // request bodies seen, in order
  std::vector<std::string> auth;
};

// Embeds each input as [length, position in its batch, 1] and answers in reverse order.
void serve_embeddings(LocalServer& server, std::mutex& m, std::vector<json>& bodies,
                      std::vector<std::string>& auth) {
  server.http().Post("/v1/embeddings", [&](const httplib::Request& req, httplib::Response& res) {
    auto body = json::parse(req.body);
    {
      std::lock_guard lock(m);
      bodies.push_back(body);
      auth.push_back(req.get_header_value("Authorization"));
    }
    json data = json::array();
    const auto& input = body["input"];
    for (size_t i = input.size(); i-- > 0;)
      data.push_back({{"object", "embedding"},
                      {"index", i},
                      {"embedding", {input[i].get<std::string>().size(), static_cast<double>(i), 1.0}}});
    res.set_content(
        json({{"object", "list"}, {"data", data}, {"usage", {{"prompt_tokens", 3}, {"total_tokens", 3}}}})
            .dump(),
        "application/json");
  });
}

TEST_F(OpenAiProvider, EmbeddingsAreBatchedAndReassembledInOrder) {
  serve_embeddings(server, mutex, bodies, auth);
  server.start();
  auto model = load(ModelTask::embed, {{"max_batch_inputs", 2}});
  ASSERT_TRUE(model.embedding);
  EXPECT_EQ(model.embedding->dimensions(), 0);  // unknown until the first call
  std::vector<std::string> inputs = {"a", "bb", "ccc", "dddd", "eeeee"};
  auto r = model.embedding->embed(inputs);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->vectors.size(), 5u);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(r->vectors[i][0], static_cast<float>(inputs[i].size())) << i;
    EXPECT_EQ(r->vectors[i][1], static_cast<float>(i % 2)) << i;
  }
  EXPECT_EQ(r->dimensions, 3);
  EXPECT_EQ(model.embedding->dimensions(), 3);
  EXPECT_EQ(r->usage.prompt_tokens, 9);  // 3 batches of 3
  ASSERT_EQ(bodies.size(), 3u);
  EXPECT_EQ(bodies[0]["model"], "test-model");
  EXPECT_EQ(bodies[0]["input"], json({"a", "bb"}));
  EXPECT_EQ(bodies[2]["input"], json({"eeeee"}));
  EXPECT_EQ(bodies[0]["encoding_format"], "float");
  EXPECT_FALSE(bodies[0].contains("dimensions"));
  EXPECT_EQ(auth[0], std::string("Bearer ") + testing::kTestKey);
}

TEST_F(OpenAiProvider, DimensionsArePassedThrough) {
  serve_embeddings(server, mutex, bodies, auth);
  server.start();
  auto model = load(ModelTask::embed, json::object(), {{"dimensions", 3}});
  EXPECT_EQ(model.embedding->dimensions(), 3);
  std::vector<std::string> inputs = {"x"};
  EmbedOptions opts;
  opts.dimensions = 3;
  ASSERT_TRUE(model.embedding->embed(inputs, opts).ok());
  EXPECT_EQ(bodies.back()["dimensions"], 3);
}

TEST_F(OpenAiProvider, NoKeyMeansNoAuthorizationHeader) {
  unsetenv(testing::kTestKeyEnv);
  serve_embeddings(server, mutex, bodies, auth);
  server.start();
  auto model = load(ModelTask::embed);
  std::vector<std::string> inputs = {"x"};
  ASSERT_TRUE(model.embedding->embed(inputs).ok());
  EXPECT_EQ(auth.back(), "");
  EXPECT_EQ(model.info["api_key_set"], false);
}

TEST_F(OpenAiProvider, ExtraHeadersAndOrganizationAreSent) {
  std::string custom, org;
  server.http().Post("/v1/embeddings", [&](const httplib::Request& req, httplib::Response& res) {
    custom = req.get_header_value("X-Team");
    org = req.get_header_value("OpenAI-Organization");
    res.set_content(R"({"data":[{"index":0,"embedding":[1,2]}]})", "application/json");
  });
  server.start();
  auto model = load(ModelTask::embed, {{"headers", {{"X-Team", "search"}}}, {"organization", "org-1"}});
  std::vector<std::string> inputs = {"x"};
  ASSERT_TRUE(model.embedding->embed(inputs).ok());
  EXPECT_EQ(custom, "search");
  EXPECT_EQ(org, "org-1");
}

TEST_F(OpenAiProvider, ChatCompletionCarriesEveryOption) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    bodies.push_back(json::parse(req.body));
    res.set_content(json({{"choices",
                           {{{"index", 0},
                             {"message", {{"role", "assistant"}, {"content", "{\"a\":1}"}}},
                             {"finish_reason", "length"}}}},
                          {"usage", {{"prompt_tokens", 7}, {"completion_tokens", 4}, {"total_tokens", 11}}}})
                        .dump(),
                    "application/json");
  });
  server.start();
  auto model = load(ModelTask::generate);
  GenerateRequest req;
  req.messages = {{"system", "be brief"}, {"user", "hi"}};
  req.options.temperature = 0.0f;
  req.options.top_p = 0.5f;
  req.options.max_tokens = 12;
  req.options.seed = 42;
  req.options.stop = {"\n\n"};
  req.options.json_schema = R"({"type":"object","properties":{"a":{"type":"integer"}}})";
  auto r = model.generator->generate(req);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->text, "{\"a\":1}");
  EXPECT_EQ(r->finish_reason, FinishReason::length);
  EXPECT_EQ(r->usage.prompt_tokens, 7);
  EXPECT_EQ(r->usage.completion_tokens, 4);
  const json& b = bodies.back();
  EXPECT_EQ(b["model"], "test-model");
  EXPECT_EQ(b["messages"].size(), 2u);
  EXPECT_EQ(b["messages"][0]["role"], "system");
  EXPECT_EQ(b["max_tokens"], 12);
  EXPECT_EQ(b["temperature"], 0.0);
  EXPECT_FLOAT_EQ(b["top_p"].get<float>(), 0.5f);
  EXPECT_EQ(b["seed"], 42);
  EXPECT_EQ(b["stop"], json({"\n\n"}));
  EXPECT_FALSE(b.contains("stream"));
  EXPECT_EQ(b["response_format"]["type"], "json_schema");
  EXPECT_EQ(b["response_format"]["json_schema"]["strict"], true);
  EXPECT_EQ(b["response_format"]["json_schema"]["schema"]["properties"]["a"]["type"], "integer");
}

TEST_F(OpenAiProvider, PromptBecomesOneUserMessage) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    bodies.push_back(json::parse(req.body));
    res.set_content(R"({"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}]})",
                    "application/json");
  });
  server.start();
  auto model = load(ModelTask::generate, {{"max_tokens_param", "max_completion_tokens"}});
  GenerateRequest req;
  req.prompt = "Once upon";
  auto r = model.generator->generate(req);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->finish_reason, FinishReason::stop);
  EXPECT_EQ(bodies.back()["messages"], json::parse(R"([{"role":"user","content":"Once upon"}])"));
  EXPECT_TRUE(bodies.back().contains("max_completion_tokens"));
}

TEST_F(OpenAiProvider, StreamDeliversPiecesAndUsage) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    bodies.push_back(json::parse(req.body));
    res.set_content(testing::chat_stream({"Hel", "lo", " world"}), "text/event-stream");
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
  EXPECT_EQ(pieces, (std::vector<std::string>{"Hel", "lo", " world"}));
  EXPECT_EQ(r->text, "Hello world");
  EXPECT_EQ(r->finish_reason, FinishReason::stop);
  EXPECT_EQ(r->usage.completion_tokens, 3);
  EXPECT_EQ(bodies.back()["stream"], true);
  EXPECT_EQ(bodies.back()["stream_options"]["include_usage"], true);
}

TEST_F(OpenAiProvider, SamplingFieldsPassThroughAndEveryChoiceWithItsLogprobsComesBack) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    bodies.push_back(json::parse(req.body));
    json lp = {
        {"content",
         {{{"token", "Hi"},
           {"logprob", -0.5},
           {"bytes", {72, 105}},
           {"top_logprobs", {{{"token", "Hi"}, {"logprob", -0.5}}, {{"token", "Yo"}, {"logprob", -1.5}}}}}}}};
    res.set_content(
        json({{"choices",
               {{{"index", 0}, {"message", {{"content", "Hi"}}}, {"logprobs", lp}, {"finish_reason", "stop"}},
                {{"index", 1}, {"message", {{"content", "Yo"}}}, {"finish_reason", "length"}}}},
              {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 2}}}})
            .dump(),
        "application/json");
  });
  server.start();
  auto model = load(ModelTask::generate);
  GenerateRequest req;
  req.prompt = "hi";
  req.options.presence_penalty = 0.5f;
  req.options.frequency_penalty = -1.0f;
  req.options.logit_bias = {{50256, -100.0f}};
  req.options.logprobs = true;
  req.options.top_logprobs = 2;
  req.options.n = 2;
  auto r = model.generator->generate(req);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const json& b = bodies.back();
  EXPECT_FLOAT_EQ(b["presence_penalty"].get<float>(), 0.5f);
  EXPECT_FLOAT_EQ(b["frequency_penalty"].get<float>(), -1.0f);
  EXPECT_EQ(b["logit_bias"], json({{"50256", -100.0}}));
  EXPECT_EQ(b["logprobs"], true);
  EXPECT_EQ(b["top_logprobs"], 2);
  EXPECT_EQ(b["n"], 2);
  ASSERT_EQ(r->choice_count(), 2u);
  EXPECT_EQ(r->text, "Hi");
  EXPECT_EQ(r->choice(1).text, "Yo");
  EXPECT_EQ(r->choice(1).finish_reason, FinishReason::length);
  ASSERT_EQ(r->logprobs.size(), 1u);
  EXPECT_EQ(r->logprobs[0].token, "Hi");
  EXPECT_DOUBLE_EQ(r->logprobs[0].logprob, -0.5);
  ASSERT_EQ(r->logprobs[0].top.size(), 2u);
  EXPECT_EQ(r->logprobs[0].top[1].token, "Yo");

  GenerateRequest plain;
  plain.prompt = "hi";
  ASSERT_TRUE(model.generator->generate(plain).ok());
  for (const char* key :
       {"presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "n"})
    EXPECT_FALSE(bodies.back().contains(key)) << key << " sent though unset";
}

TEST_F(OpenAiProvider, StreamedChoicesArriveAsDeltasOfTheirIndex) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    std::string sse;
    auto chunk = [&](int index, const std::string& text, json finish) {
      json lp = {{"content", {{{"token", text}, {"logprob", -0.25}, {"top_logprobs", json::array()}}}}};
      json c = {
          {"index", index}, {"delta", {{"content", text}}}, {"logprobs", lp}, {"finish_reason", finish}};
      sse += "data: " + json({{"choices", {c}}}).dump() + "\n\n";
    };
    chunk(0, "a", nullptr);
    chunk(1, "b", nullptr);
    chunk(0, "c", "stop");
    chunk(1, "d", "length");
    chunk(7, "x", nullptr);  // beyond n: dropped
    res.set_content(sse + "data: [DONE]\n\n", "text/event-stream");
  });
  server.start();
  auto model = load(ModelTask::generate);
  GenerateRequest req;
  req.prompt = "hi";
  req.options.n = 2;
  req.options.logprobs = true;
  std::vector<std::string> streamed(2);
  size_t logprobs = 0;
  auto r = model.generator->generate_deltas(req, [&](const GenerateDelta& d) {
    streamed.at(static_cast<size_t>(d.choice)) += d.content;
    logprobs += d.logprobs.size();
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(streamed, (std::vector<std::string>{"ac", "bd"}));
  EXPECT_EQ(logprobs, 4u);
  ASSERT_EQ(r->choice_count(), 2u);
  EXPECT_EQ(r->choice(1).text, "bd");
  EXPECT_EQ(r->choice(1).finish_reason, FinishReason::length);
  EXPECT_EQ(r->choice(0).logprobs.size(), 2u);
}

TEST_F(OpenAiProvider, RerankSortsByScoreAndHonoursTopN) {
  server.http().Post("/v1/rerank", [&](const httplib::Request& req, httplib::Response& res) {
    bodies.push_back(json::parse(req.body));
    res.set_content(R"({"results":[{"index":0,"relevance_score":0.1},{"index":2,"relevance_score":0.9},
                       {"index":1,"relevance_score":0.5}],"usage":{"total_tokens":12}})",
                    "application/json");
  });
  server.start();
  auto model = load(ModelTask::rerank);
  std::vector<std::string> docs = {"a", "b", "c"};
  auto r = model.reranker->rerank("q", docs, 2);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->results.size(), 2u);
  EXPECT_EQ(r->results[0].index, 2u);
  EXPECT_DOUBLE_EQ(r->results[0].score, 0.9);
  EXPECT_EQ(r->results[1].index, 1u);
  EXPECT_EQ(r->usage.prompt_tokens, 12);
  EXPECT_EQ(bodies.back()["query"], "q");
  EXPECT_EQ(bodies.back()["top_n"], 2);
  EXPECT_EQ(bodies.back()["documents"], json({"a", "b", "c"}));
}

TEST_F(OpenAiProvider, RerankRejectsOutOfRangeIndexes) {
  server.http().Post("/v1/rerank", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"results":[{"index":7,"relevance_score":0.1}]})", "application/json");
  });
  server.start();
  auto model = load(ModelTask::rerank);
  std::vector<std::string> docs = {"a"};
  auto r = model.reranker->rerank("q", docs);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::inference_failed);
}

TEST_F(OpenAiProvider, HealthListsModelsAndReportsLatency) {
  server.http().Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"data":[{"id":"test-model"}]})", "application/json");
  });
  server.start();
  auto provider = make_openai_provider(testing::openai_settings(server));
  auto h = provider->health();
  EXPECT_TRUE(h.ok) << h.detail;
  EXPECT_NE(h.detail.find("200 in"), std::string::npos) << h.detail;
  EXPECT_GE(h.latency_ms, 0);
  server.stop();
  EXPECT_FALSE(provider->health().ok);
}

TEST_F(OpenAiProvider, BadSettingsAreConfigInvalid) {
  server.start();
  auto provider = make_openai_provider(testing::openai_settings(server, {{"base_url", "ftp://x"}}));
  auto r = provider->load(testing::openai_spec(ModelTask::embed), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::config_invalid);
  EXPECT_NE(r.error().message().find("base_url"), std::string::npos);
  auto p2 = make_openai_provider(testing::openai_settings(server, {{"timeout_ms", "soon"}}));
  auto r2 = p2->load(testing::openai_spec(ModelTask::embed), {});
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message().find("timeout_ms"), std::string::npos);
}

TEST_F(OpenAiProvider, UnknownSettingKeysAreConfigInvalidNamingTheKey) {
  server.start();
  auto spec = testing::openai_spec(ModelTask::embed);
  auto typo = make_openai_provider(testing::openai_settings(server, {{"bse_url", "http://127.0.0.1:1"}}));
  auto r = typo->load(spec, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::config_invalid);
  EXPECT_NE(r.error().message().find("[providers.openai] bse_url: unknown key"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("base_url"), std::string::npos);  // the known keys are listed
  EXPECT_FALSE(typo->health().ok);
  EXPECT_EQ(server.requests.load(), 0);

  auto provider = make_openai_provider(testing::openai_settings(server));
  spec.options = {{"max_batch", 3}};
  auto r2 = provider->load(spec, {});
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message().find("options.max_batch: unknown key"), std::string::npos)
      << r2.error().message();

  auto retry = make_openai_provider(testing::openai_settings(server, {{"retry", {{"max_atempts", 2}}}}));
  spec.options = json::object();
  auto r3 = retry->load(spec, {});
  ASSERT_FALSE(r3.ok());
  EXPECT_NE(r3.error().message().find("retry.max_atempts: unknown key"), std::string::npos)
      << r3.error().message();

  // Every key the docs list is accepted.
  spec.options = {{"organization", "org"},    {"max_batch_inputs", 2},
                  {"dimensions", 3},          {"max_tokens_param", "max_tokens"},
                  {"stream_usage", false},    {"extra_body", json::object()},
                  {"headers", json::object()}};
  EXPECT_TRUE(provider->load(spec, {}).ok());
}

// Through a config file, build() refuses the typo before anything loads, with its file and line.
TEST_F(OpenAiProvider, UnknownKeyInTheConfigFailsBuildWithItsLine) {
  auto config = parse_config(R"([providers.openai]
base_url = "http://127.0.0.1:1/v1"
time_out_ms = 5

[models."embed/x"]
task = "embed"
provider = "openai"
model = "m"
)");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  RuntimeBuilder builder;
  builder.add_config(*config);
  builder.add_provider(make_openai_provider(builder.provider_settings("openai")));
  auto rt = builder.build();
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.error().code(), ErrorCode::config_invalid);
  EXPECT_NE(rt.error().message().find("xervo.toml:3: providers.openai.time_out_ms: unknown key"),
            std::string::npos)
      << rt.error().message();

  auto in_options = parse_config(R"([models."embed/x"]
task = "embed"
provider = "openai"
model = "m"
options = { base_url = "http://127.0.0.1:1/v1", dimension = 8 }
)");
  ASSERT_TRUE(in_options.ok());
  RuntimeBuilder b2;
  b2.add_config(*in_options);
  b2.add_provider(make_openai_provider(b2.provider_settings("openai")));
  auto rt2 = b2.build();
  ASSERT_FALSE(rt2.ok());
  EXPECT_NE(rt2.error().message().find("xervo.toml:5: models.\"embed/x\".options.dimension: unknown key"),
            std::string::npos)
      << rt2.error().message();
}

TEST_F(OpenAiProvider, SpecOptionsOverrideProviderSettings) {
  LocalServer other;
  int hits = 0;
  other.http().Post("/v2/embeddings", [&](const httplib::Request&, httplib::Response& res) {
    ++hits;
    res.set_content(R"({"data":[{"index":0,"embedding":[1]}]})", "application/json");
  });
  other.start();
  server.start();
  auto model = load(ModelTask::embed, json::object(), {{"base_url", other.url("/v2")}});
  std::vector<std::string> inputs = {"x"};
  ASSERT_TRUE(model.embedding->embed(inputs).ok());
  EXPECT_EQ(hits, 1);
}

}  // namespace
}  // namespace xervo
