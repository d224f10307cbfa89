// The openai provider against llama.cpp's own llama-server serving generated tiny models: what
// xervo returns through the provider equals what llama-server answers to the same request sent
// directly.
#include <gtest/gtest.h>

#include "process.h"
#include "test_models.h"
#include "xervo/providers.h"

namespace xervo {
namespace {

using nlohmann::json;

std::shared_ptr<ModelProvider> provider_for(const testing::LlamaServer& server) {
  return make_openai_provider({{"base_url", "http://127.0.0.1:" + std::to_string(server.port()) + "/v1"},
                               {"api_key_env", "XERVO_TEST_NO_SUCH_KEY"},
                               {"timeout_ms", 120000}});
}

LoadedModel load(ModelProvider& provider, ModelTask task) {
  ModelSpec spec;
  spec.alias = "llama-server";
  spec.task = task;
  spec.provider = "openai";
  spec.model = "tiny";  // llama-server serves its one model under any name
  auto loaded = provider.load(spec, {});
  EXPECT_TRUE(loaded.ok()) << loaded.error().to_string();
  return loaded.ok() ? *loaded : LoadedModel{};
}

TEST(OpenAiAgainstLlamaServer, EmbeddingsEqualTheServersOwn) {
  testing::LlamaServer server(testing::test_model("embedder"), {"--embeddings", "-c", "512"});
  auto provider = provider_for(server);
  auto model = load(*provider, ModelTask::embed);
  ASSERT_TRUE(model.embedding);
  const std::vector<std::string> inputs = {"hello world", "the quick brown fox", "x"};
  auto ours = model.embedding->embed(inputs);
  ASSERT_TRUE(ours.ok()) << ours.error().to_string();
  const json direct = server.post("/v1/embeddings", {{"model", "tiny"}, {"input", inputs}});
  ASSERT_EQ(ours->vectors.size(), inputs.size());
  for (const auto& item : direct["data"]) {
    const size_t i = item["index"].get<size_t>();
    const auto expected = item["embedding"].get<std::vector<float>>();
    ASSERT_EQ(ours->vectors[i].size(), expected.size());
    // Two requests to one server can differ in the last float bits (thread scheduling), nothing more.
    for (size_t d = 0; d < expected.size(); ++d)
      EXPECT_NEAR(ours->vectors[i][d], expected[d], 1e-6) << i << "/" << d;
  }
  EXPECT_EQ(model.embedding->dimensions(), static_cast<int>(ours->vectors[0].size()));
  EXPECT_GT(ours->usage.prompt_tokens, 0);
  EXPECT_TRUE(provider->health().ok);
}

TEST(OpenAiAgainstLlamaServer, GreedyCompletionEqualsTheServersOwn) {
  testing::LlamaServer server(testing::test_model("generator"), {"-c", "512"});
  auto provider = provider_for(server);
  auto model = load(*provider, ModelTask::generate);
  ASSERT_TRUE(model.generator);
  GenerateRequest req;
  req.messages = {{"user", "Tell me a story about a cat."}};
  req.options.temperature = 0.0f;
  req.options.max_tokens = 24;
  auto whole = model.generator->generate(req);
  ASSERT_TRUE(whole.ok()) << whole.error().to_string();
  std::string streamed_text;
  auto streamed = model.generator->generate(req, [&](std::string_view p) {
    streamed_text += p;
    return true;
  });
  ASSERT_TRUE(streamed.ok()) << streamed.error().to_string();

  const json direct = server.post("/v1/chat/completions",
                                  {{"model", "tiny"},
                                   {"messages", {{{"role", "user"}, {"content", req.messages[0].content}}}},
                                   {"temperature", 0.0},
                                   {"top_p", req.options.top_p},
                                   {"max_tokens", 24}});
  const std::string expected = direct["choices"][0]["message"]["content"].get<std::string>();
  EXPECT_FALSE(expected.empty());
  EXPECT_EQ(whole->text, expected);
  EXPECT_EQ(streamed_text, expected);
  EXPECT_EQ(streamed->text, expected);
  const std::string finish = direct["choices"][0]["finish_reason"].get<std::string>();
  EXPECT_EQ(whole->finish_reason, finish == "length" ? FinishReason::length : FinishReason::stop);
  EXPECT_EQ(whole->usage.completion_tokens, direct["usage"]["completion_tokens"].get<int64_t>());
  EXPECT_EQ(streamed->usage.completion_tokens,
            whole->usage.completion_tokens);  // stream_options.include_usage
}

TEST(OpenAiAgainstLlamaServer, RerankEqualsTheServersOwn) {
  testing::LlamaServer server(testing::test_model("reranker"), {"--reranking", "-c", "512"});
  auto provider = provider_for(server);
  auto model = load(*provider, ModelTask::rerank);
  ASSERT_TRUE(model.reranker);
  const std::vector<std::string> docs = {"cats purr", "stock markets fell", "a kitten sleeps", "rain"};
  auto ours = model.reranker->rerank("cat", docs);
  ASSERT_TRUE(ours.ok()) << ours.error().to_string();
  const json direct = server.post("/v1/rerank", {{"model", "tiny"}, {"query", "cat"}, {"documents", docs}});
  ASSERT_EQ(ours->results.size(), docs.size());
  for (const auto& r : direct["results"]) {
    const size_t i = r["index"].get<size_t>();
    auto it = std::find_if(ours->results.begin(), ours->results.end(),
                           [&](const RerankResult& x) { return x.index == i; });
    ASSERT_NE(it, ours->results.end());
    EXPECT_DOUBLE_EQ(it->score, r["relevance_score"].get<double>());
  }
  for (size_t k = 1; k < ours->results.size(); ++k)
    EXPECT_GE(ours->results[k - 1].score, ours->results[k].score);
}

}  // namespace
}  // namespace xervo
