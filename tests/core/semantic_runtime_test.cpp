// The semantic cache through the runtime's handles, with a scripted provider whose embedder puts
// texts that share their first word on one direction: a close prompt gets the cached answer (and
// a streamed one replays it), other prompts, other options, sampled requests and aliases without
// it compute; no-cache skips the lookup, no-store keeps nothing, a broken embed alias is a counted
// miss; and every bad setting is refused with the key named.
#include <gtest/gtest.h>

#include <atomic>

#include "xervo/config.h"
#include "xervo/provider.h"
#include "xervo/runtime.h"

namespace xervo {
namespace {

// The first letter of a text decides its vector (one of 8 directions): "paris what is" and
// "paris tell me" mean the same, "rome what is" (r) and "lyon ..." (l) something else.
class WordEmbedding : public EmbeddingModel {
 public:
  Result<Embeddings> embed(std::span<const std::string> inputs, const EmbedOptions&) override {
    Embeddings e;
    e.dimensions = 8;
    for (const auto& text : inputs) {
      std::vector<float> v(8, 0.0f);
      v[text.empty() ? 0 : static_cast<size_t>(text[0] - 'a') % 8] = 1;
      e.vectors.push_back(v);
    }
    return e;
  }
  int dimensions() const override { return 8; }
};

class CountingGenerator : public GeneratorModel {
 public:
  using GeneratorModel::generate;
  Result<GenerateResult> generate(const GenerateRequest& request, const TokenCallback& on_piece) override {
    const int n = ++calls;
    GenerateResult r;
    r.text = "answer " + std::to_string(n) + " to " +
             (request.messages.empty() ? request.prompt : request.messages.back().content);
    if (on_piece) {
      on_piece(r.text.substr(0, 6));
      on_piece(r.text.substr(6));
    }
    return r;
  }
  std::atomic<int> calls{0};
};

class ScriptedProvider : public ModelProvider {
 public:
  std::string id() const override { return "scripted"; }
  ProviderCapabilities capabilities() const override {
    return {{ModelTask::embed, ModelTask::generate}, true};
  }
  using ModelProvider::load;
  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback&) override {
    if (spec.model == "broken") return Error(ErrorCode::model_load_failed, "this model never loads");
    LoadedModel m;
    m.fingerprint = "scripted:" + spec.model;
    m.memory_bytes = 1024;
    if (spec.task == ModelTask::embed) m.embedding = std::make_shared<WordEmbedding>();
    if (spec.task == ModelTask::generate) m.generator = generator;
    return m;
  }
  std::shared_ptr<CountingGenerator> generator = std::make_shared<CountingGenerator>();
};

constexpr const char* kConfig = R"(
[cache]
enabled = true
disk = 0

[models."embed/words"]
task = "embed"
provider = "scripted"
model = "words"

[models."embed/broken"]
task = "embed"
provider = "scripted"
model = "broken"

[models."chat/semantic"]
task = "generate"
provider = "scripted"
model = "g"
cache = { semantic_embed = "embed/words", semantic_threshold = 0.99, semantic_max_entries = 100 }

[models."chat/plain"]
task = "generate"
provider = "scripted"
model = "g"

[models."chat/broken"]
task = "generate"
provider = "scripted"
model = "g"
[models."chat/broken".cache]
semantic_embed = "embed/broken"
)";

class SemanticRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = parse_config(kConfig);
    ASSERT_TRUE(config.ok()) << config.error().to_string();
    RuntimeBuilder b;
    b.add_config(*config).add_provider(provider);
    auto rt = b.build();
    ASSERT_TRUE(rt.ok()) << rt.error().to_string();
    runtime = *rt;
  }

  Result<GenerateResult> ask(const std::string& alias, const std::string& text, CachePolicy policy = {},
                             float temperature = 0) {
    AcquireOptions options;
    options.cache = policy;
    auto g = runtime->generator(alias, options);
    if (!g.ok()) return g.error();
    GenerateRequest request;
    request.messages = {{"system", "be brief"}, {"user", text}};
    request.options.temperature = temperature;
    return (*g)->generate(request);
  }
  int calls() const { return provider->generator->calls.load(); }

  std::shared_ptr<ScriptedProvider> provider = std::make_shared<ScriptedProvider>();
  std::shared_ptr<ModelRuntime> runtime;
};

TEST_F(SemanticRuntime, AClosePromptGetsTheCachedAnswerAndAnotherComputes) {
  auto first = ask("chat/semantic", "paris what is it");
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  EXPECT_EQ(first->usage.cached, 0);
  auto close = ask("chat/semantic", "paris tell me about it");
  ASSERT_TRUE(close.ok());
  EXPECT_EQ(close->text, first->text);
  EXPECT_EQ(close->usage.cached, 1);
  EXPECT_NEAR(close->usage.cache_similarity, 1.0, 1e-6);
  EXPECT_EQ(calls(), 1);

  auto other = ask("chat/semantic", "rome what is it");
  EXPECT_EQ(other->usage.cached, 0);
  EXPECT_EQ(calls(), 2);
  auto exact = ask("chat/semantic", "paris what is it");  // the exact tier answers first
  EXPECT_EQ(exact->usage.cached, 1);
  EXPECT_EQ(exact->usage.cache_similarity, 0);

  auto s = runtime->cache_stats().semantic;
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.entries, 2u);
}

TEST_F(SemanticRuntime, OnlyTheSameRestOfTheRequestMatches) {
  ASSERT_TRUE(ask("chat/semantic", "paris what is it").ok());
  auto g = runtime->generator("chat/semantic");
  ASSERT_TRUE(g.ok());
  GenerateRequest other_system;
  other_system.messages = {{"system", "be long"}, {"user", "paris tell me"}};
  other_system.options.temperature = 0;
  EXPECT_EQ((*g)->generate(other_system)->usage.cached, 0);
  GenerateRequest other_options = other_system;
  other_options.messages[0].content = "be brief";
  other_options.options.max_tokens = 7;
  EXPECT_EQ((*g)->generate(other_options)->usage.cached, 0);
  EXPECT_EQ(calls(), 3);
}

TEST_F(SemanticRuntime, OffByDefaultAndNeverForSampledRequests) {
  ASSERT_TRUE(ask("chat/plain", "paris what is it").ok());
  EXPECT_EQ(ask("chat/plain", "paris tell me")->usage.cached, 0);
  ASSERT_TRUE(ask("chat/semantic", "lyon what is it", {}, 0.8f).ok());
  EXPECT_EQ(ask("chat/semantic", "lyon tell me", {}, 0.8f)->usage.cached, 0);
  EXPECT_EQ(calls(), 4);
  EXPECT_EQ(runtime->cache_stats().semantic.hits + runtime->cache_stats().semantic.misses, 0u);
}

TEST_F(SemanticRuntime, NoCacheSkipsTheLookupAndNoStoreKeepsNoPrompt) {
  ASSERT_TRUE(ask("chat/semantic", "paris what is it", {false, true}).ok());
  EXPECT_EQ(ask("chat/semantic", "paris tell me", {false, true})->usage.cached, 0);  // no lookup
  EXPECT_EQ(runtime->cache_stats().semantic.misses, 0u);
  EXPECT_EQ(ask("chat/semantic", "paris again")->usage.cached, 1);  // what no-cache computed was kept

  ASSERT_TRUE(ask("chat/semantic", "rome what is it", {true, false}).ok());
  EXPECT_EQ(ask("chat/semantic", "rome tell me")->usage.cached, 0);
  EXPECT_EQ(calls(), 4);
}

TEST_F(SemanticRuntime, ABrokenEmbedAliasIsAMissNotAnError) {
  auto first = ask("chat/broken", "paris what is it");
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  auto second = ask("chat/broken", "paris tell me");
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  EXPECT_EQ(second->usage.cached, 0);
  EXPECT_EQ(calls(), 2);
  auto s = runtime->cache_stats().semantic;
  EXPECT_EQ(s.errors, 2u);  // one per call: remembering the answer does not try again
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(ask("chat/broken", "paris what is it")->usage.cached, 1);  // the exact tier still works
}

TEST_F(SemanticRuntime, AStreamedHitReplaysTheCachedPieces) {
  auto g = runtime->generator("chat/semantic");
  ASSERT_TRUE(g.ok());
  GenerateRequest request;
  request.messages = {{"user", "nice weather today"}};
  request.options.temperature = 0;
  std::vector<std::string> live, replayed;
  ASSERT_TRUE((*g)->generate_deltas(request,
                                    [&](const GenerateDelta& d) {
                                      live.push_back(d.content);
                                      return true;
                                    })
                  .ok());
  request.messages[0].content = "nice day, is it not";
  auto hit = (*g)->generate_deltas(request, [&](const GenerateDelta& d) {
    replayed.push_back(d.content);
    return true;
  });
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit->usage.cached, 1);
  EXPECT_GT(hit->usage.cache_similarity, 0.99);
  EXPECT_EQ(live.size(), 2u);
  EXPECT_EQ(replayed, live);
}

TEST_F(SemanticRuntime, ClearForgetsThePrompts) {
  ASSERT_TRUE(ask("chat/semantic", "paris what is it").ok());
  EXPECT_EQ(runtime->cache_stats().semantic.entries, 1u);
  runtime->clear_cache();
  EXPECT_EQ(runtime->cache_stats().semantic.entries, 0u);
  EXPECT_EQ(ask("chat/semantic", "paris tell me")->usage.cached, 0);
}

// --- settings -------------------------------------------------------------------------------------
void expect_parse_error(const std::string& cache_line, const std::string& expected) {
  const std::string text = "[models.\"chat/x\"]\ntask = \"generate\"\nmodel = \"g\"\n" + cache_line + "\n";
  auto c = parse_config(text, "x.toml");
  ASSERT_FALSE(c.ok()) << cache_line;
  EXPECT_EQ(c.error().code(), ErrorCode::config_invalid);
  EXPECT_EQ(c.error().message(), expected) << cache_line;
}

TEST(SemanticSettings, BadValuesNameTheKeyAndLine) {
  expect_parse_error("cache = { semantic_embed = \"e\", semantic_threshold = 0 }",
                     "x.toml:4: models.\"chat/x\".cache.semantic_threshold: must be a cosine similarity in "
                     "(0, 1], such as 0.95");
  expect_parse_error("cache = { semantic_embed = \"e\", semantic_threshold = 1.5 }",
                     "x.toml:4: models.\"chat/x\".cache.semantic_threshold: must be a cosine similarity in "
                     "(0, 1], such as 0.95");
  expect_parse_error("cache = { semantic_embed = \"e\", semantic_threshold = \"high\" }",
                     "x.toml:4: models.\"chat/x\".cache.semantic_threshold: must be a cosine similarity in "
                     "(0, 1], such as 0.95");
  expect_parse_error(
      "cache = { semantic_embed = \"e\", semantic_max_entries = 0 }",
      "x.toml:4: models.\"chat/x\".cache.semantic_max_entries: must be a count from 1 to 1000000");
  expect_parse_error("cache = { semantic_embed = 3 }",
                     "x.toml:4: models.\"chat/x\".cache.semantic_embed: must name an embed alias, such as "
                     "\"embed/default\"");
  expect_parse_error("cache = { semantic_threshold = 0.9 }",
                     "x.toml:4: models.\"chat/x\".cache.semantic_threshold: needs semantic_embed (the embed "
                     "alias that compares prompts)");
  expect_parse_error("cache = { enabled = false, semantic_embed = \"e\" }",
                     "x.toml:4: models.\"chat/x\".cache.enabled: false turns the cache off, and the semantic "
                     "cache with it");
  expect_parse_error("cache = { semantic = true }",
                     "x.toml:4: models.\"chat/x\".cache.semantic: unknown key (known keys: enabled, "
                     "semantic_embed, semantic_threshold, semantic_max_entries)");
  expect_parse_error("cache = 3",
                     "x.toml:4: models.\"chat/x\".cache: must be true, false or a table (docs/cache.md)");
}

TEST(SemanticSettings, TheTableFormSetsTheCacheSwitchToo) {
  auto c = parse_config(
      "[models.\"chat/x\"]\ntask = \"generate\"\nmodel = \"g\"\n[models.\"chat/x\".cache]\nenabled = true\n"
      "semantic_embed = \"embed/e\"\n");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->models[0].cache, std::optional<bool>(true));
  ASSERT_TRUE(c->models[0].semantic_cache);
  EXPECT_EQ(c->models[0].semantic_cache->embed, "embed/e");
  EXPECT_DOUBLE_EQ(c->models[0].semantic_cache->threshold, 0.95);
  EXPECT_EQ(c->models[0].semantic_cache->max_entries, 10000u);
}

void expect_build_error(const std::string& text, const std::string& expected) {
  auto c = parse_config(text, "y.toml");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  RuntimeBuilder b;
  b.add_config(*c).add_provider(std::make_shared<ScriptedProvider>());
  auto rt = b.build();
  ASSERT_FALSE(rt.ok()) << text;
  EXPECT_EQ(rt.error().code(), ErrorCode::config_invalid);
  EXPECT_EQ(rt.error().message(), expected);
}

TEST(SemanticSettings, TheEmbedAliasMustExistAndEmbed) {
  const std::string models =
      "[models.\"embed/e\"]\ntask = \"embed\"\nprovider = \"scripted\"\nmodel = \"e\"\n"
      "[models.\"chat/y\"]\ntask = \"generate\"\nprovider = \"scripted\"\nmodel = \"g\"\n";
  expect_build_error(models +
                         "[models.\"chat/x\"]\ntask = \"generate\"\nprovider = \"scripted\"\nmodel = \"g\"\n"
                         "cache = { semantic_embed = \"embed/none\" }\n",
                     "y.toml:13: alias 'chat/x': cache.semantic_embed: 'embed/none' is not an alias; embed "
                     "aliases: embed/e");
  expect_build_error(
      models +
          "[models.\"chat/x\"]\ntask = \"generate\"\nprovider = \"scripted\"\nmodel = \"g\"\n"
          "cache = { semantic_embed = \"chat/y\" }\n",
      "y.toml:13: alias 'chat/x': cache.semantic_embed: 'chat/y' has task generate; it must be "
      "an embed alias");
  expect_build_error(
      models +
          "[models.\"embed/x\"]\ntask = \"embed\"\nprovider = \"scripted\"\nmodel = \"g\"\n"
          "cache = { semantic_embed = \"embed/e\" }\n",
      "y.toml:13: alias 'embed/x': cache.semantic_embed: only generation aliases have a semantic "
      "cache ('embed/x' has task embed)");
}

}  // namespace
}  // namespace xervo
