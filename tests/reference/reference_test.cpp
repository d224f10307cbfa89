// xervo's llama.cpp provider gives what llama.cpp's own tools give on the same generated files:
// embeddings (llama-server /v1/embeddings), greedy generation (llama-simple), rerank scores
// (llama-server /v1/rerank); batching changes nothing; bad files fail to load with a reason.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <thread>

#include "process.h"
#include "test_models.h"
#include "xervo/providers.h"
#include "xervo/runtime.h"

namespace xervo {
namespace {

using testing::test_model;

std::shared_ptr<ModelRuntime> make_runtime() {
  RuntimeBuilder builder;
  builder.add_provider(make_llamacpp_provider(nlohmann::json::object(), nullptr));
  return builder.build().value_or_throw();
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  return dot / (std::sqrt(na) * std::sqrt(nb) + 1e-30);
}

const std::vector<std::string> kTexts = {
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "a",
    "Embeddings turn text into vectors; similar texts should land close to each other in that space.",
    "Ünïcödé and emoji 🙂 survive the tokenizer",
    "Short",
    "Another sentence, with punctuation: commas, colons; and semicolons!",
    "42",
};

void expect_embeddings_match_llama_server(const std::filesystem::path& model) {
  SCOPED_TRACE(model.string());
  auto runtime = make_runtime();
  auto embedder = runtime->embedding(model.string());
  ASSERT_TRUE(embedder.ok()) << embedder.error().to_string();
  auto ours = (*embedder)->embed(kTexts);
  ASSERT_TRUE(ours.ok()) << ours.error().to_string();
  ASSERT_EQ(ours->vectors.size(), kTexts.size());

  testing::LlamaServer server(model, {"--embeddings", "-c", "512"});
  auto reference = server.post("/v1/embeddings", {{"input", kTexts}});
  ASSERT_EQ(reference["data"].size(), kTexts.size());
  for (size_t i = 0; i < kTexts.size(); ++i) {
    auto expected = reference["data"][i]["embedding"].get<std::vector<float>>();
    ASSERT_EQ(ours->vectors[i].size(), expected.size()) << kTexts[i];
    EXPECT_GT(cosine(ours->vectors[i], expected), 0.9999) << kTexts[i];
  }
}

TEST(Reference, MeanPooledEmbeddingsMatchLlamaServer) {
  expect_embeddings_match_llama_server(test_model("embedder"));
}

TEST(Reference, ClsPooledQuantizedEmbeddingsMatchLlamaServer) {
  expect_embeddings_match_llama_server(test_model("embedder", "tiny", "--pooling cls --type q8_0"));
}

TEST(Reference, BgeSmallShapedEmbeddingsMatchLlamaServer) {
  expect_embeddings_match_llama_server(test_model("embedder", "small"));
}

TEST(Reference, BatchedEmbeddingsEqualOneAtATime) {
  auto runtime = make_runtime();
  auto embedder = runtime->embedding(test_model("embedder").string()).value_or_throw();
  auto batched = embedder->embed(kTexts);
  ASSERT_TRUE(batched.ok()) << batched.error().to_string();
  for (size_t i = 0; i < kTexts.size(); ++i) {
    auto single = embedder->embed(std::vector<std::string>{kTexts[i]});
    ASSERT_TRUE(single.ok()) << single.error().to_string();
    EXPECT_GT(cosine(batched->vectors[i], single->vectors[0]), 0.9999) << kTexts[i];
  }
  // Concurrent callers (which the scheduler may put into one batch) get their own vectors too.
  std::vector<std::vector<float>> concurrent(kTexts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < kTexts.size(); ++i)
    threads.emplace_back([&, i] {
      auto r = embedder->embed(std::vector<std::string>{kTexts[i]});
      if (r.ok()) concurrent[i] = r->vectors[0];
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < kTexts.size(); ++i)
    EXPECT_GT(cosine(batched->vectors[i], concurrent[i]), 0.9999) << kTexts[i];
}

// llama-simple prints the prompt's pieces and then the generated ones; the generated text is what
// follows the prompt.
std::string llama_simple_continuation(const std::filesystem::path& model, const std::string& prompt, int n) {
  auto r = testing::run_command(
      {testing::llama_tool("llama-simple").string(), "-m", model.string(), "-n", std::to_string(n), prompt});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto at = r.out.find(prompt);
  EXPECT_NE(at, std::string::npos) << r.out;
  if (at == std::string::npos) return {};
  std::string text = r.out.substr(at + prompt.size());
  if (!text.empty() && text.back() == '\n') text.pop_back();  // llama-simple ends with a newline
  return text;
}

void expect_greedy_matches_llama_simple(const std::filesystem::path& model) {
  SCOPED_TRACE(model.string());
  auto runtime = make_runtime();
  auto generator = runtime->generator(model.string());
  ASSERT_TRUE(generator.ok()) << generator.error().to_string();
  for (const std::string prompt : {"Hello world", "Once upon a time, in a land far away,", "1, 2, 3,"}) {
    GenerateRequest request;
    request.prompt = prompt;
    request.options.temperature = 0;
    request.options.max_tokens = 32;
    auto ours = (*generator)->generate(request);
    ASSERT_TRUE(ours.ok()) << ours.error().to_string();
    const std::string expected = llama_simple_continuation(model, prompt, 32);
    EXPECT_FALSE(expected.empty());
    EXPECT_EQ(ours->text, expected) << "prompt: " << prompt;
    if (ours->finish_reason == FinishReason::length) {
      EXPECT_EQ(ours->usage.completion_tokens, 32);
    }
  }
}

TEST(Reference, GreedyGenerationMatchesLlamaSimple) {
  expect_greedy_matches_llama_simple(test_model("generator"));
}

TEST(Reference, GreedyGenerationOfQuantizedModelMatchesLlamaSimple) {
  expect_greedy_matches_llama_simple(test_model("generator", "tiny", "--type q8_0"));
}

// Seeded sampling draws what llama-server draws with the same seed and the same sampler chain
// (top-k, top-p, min-p, temperature, then the seeded draw): every option and the seed reach
// llama.cpp's sampler as llama.cpp's own server passes them.
TEST(Reference, SeededSamplingMatchesLlamaServer) {
  const auto model = test_model("generator");
  auto runtime = make_runtime();
  auto generator = runtime->generator(model.string());
  ASSERT_TRUE(generator.ok()) << generator.error().to_string();
  testing::LlamaServer server(model, {"-c", "512", "-np", "1"});
  struct Case {
    uint64_t seed;
    float temperature, top_p, min_p;
    int top_k;
  };
  for (const Case c :
       {Case{1234, 1.0f, 0.9f, 0.05f, 40}, Case{7, 1.5f, 1.0f, 0.0f, 0}, Case{99, 0.7f, 0.95f, 0.1f, 10}}) {
    SCOPED_TRACE("seed " + std::to_string(c.seed));
    GenerateRequest request;
    request.prompt = "Once upon a time";
    request.options.max_tokens = 24;
    request.options.seed = c.seed;
    request.options.temperature = c.temperature;
    request.options.top_p = c.top_p;
    request.options.min_p = c.min_p;
    request.options.top_k = c.top_k;
    auto ours = (*generator)->generate(request);
    ASSERT_TRUE(ours.ok()) << ours.error().to_string();
    auto theirs = server.post("/completion", {{"prompt", request.prompt},
                                              {"n_predict", 24},
                                              {"seed", c.seed},
                                              {"temperature", c.temperature},
                                              {"top_k", c.top_k},
                                              {"top_p", c.top_p},
                                              {"min_p", c.min_p},
                                              {"samplers", {"top_k", "top_p", "min_p", "temperature"}},
                                              {"cache_prompt", false}});
    EXPECT_FALSE(ours->text.empty());
    EXPECT_EQ(ours->text, theirs["content"].get<std::string>());
  }
}

TEST(Reference, RerankMatchesLlamaServer) {
  const auto model = test_model("reranker");
  const std::string query = "what do cats eat";
  const std::vector<std::string> docs = {"cats eat fish and mice", "the stock market fell",
                                         "a recipe for bread", "dogs and cats are pets",
                                         "what do cats eat? they eat cat food"};
  auto runtime = make_runtime();
  auto reranker = runtime->reranker(model.string());
  ASSERT_TRUE(reranker.ok()) << reranker.error().to_string();
  auto ours = (*reranker)->rerank(query, docs);
  ASSERT_TRUE(ours.ok()) << ours.error().to_string();
  ASSERT_EQ(ours->results.size(), docs.size());

  testing::LlamaServer server(model, {"--reranking", "-c", "512"});
  auto reference = server.post("/v1/rerank", {{"query", query}, {"documents", docs}, {"top_n", docs.size()}});
  ASSERT_EQ(reference["results"].size(), docs.size());
  std::vector<double> expected(docs.size());
  for (const auto& r : reference["results"]) expected.at(r["index"].get<size_t>()) = r["relevance_score"];
  // Same order, same scores.
  for (size_t rank = 0; rank < docs.size(); ++rank) {
    const auto& r = ours->results[rank];
    EXPECT_NEAR(r.score, expected.at(r.index), 1e-4) << "document " << r.index;
    if (rank > 0) {
      EXPECT_GE(ours->results[rank - 1].score, r.score);
    }
  }
  auto top = (*reranker)->rerank(query, docs, 2);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->results.size(), 2u);
  EXPECT_EQ(top->results[0].index, ours->results[0].index);
}

std::filesystem::path write_file(const std::string& name, const std::string& bytes) {
  auto path =
      std::filesystem::temp_directory_path() / ("xervo-ref-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

template <typename Handle>
void expect_load_failure(const Result<Handle>& r, const std::filesystem::path& path,
                         ErrorCode also_accepted = ErrorCode::model_load_failed) {
  ASSERT_FALSE(r.ok()) << path;
  EXPECT_TRUE(r.error().code() == ErrorCode::model_load_failed || r.error().code() == also_accepted)
      << r.error().to_string();
  EXPECT_NE(r.error().message().find(path.string()), std::string::npos) << r.error().to_string();
}

TEST(Reference, BadFilesFailToLoadWithPathAndReason) {
  const std::string good = read_file(test_model("embedder"));
  const auto truncated = write_file("truncated.gguf", good.substr(0, good.size() / 2));
  const auto header_only = write_file("header.gguf", good.substr(0, 64));
  const auto not_gguf = write_file("text.gguf", "this is not a model\n");
  const auto empty = write_file("empty.gguf", "");
  for (const auto& path : {truncated, header_only, not_gguf, empty}) {
    auto runtime = make_runtime();
    expect_load_failure(runtime->embedding(path.string()), path);
    std::filesystem::remove(path);
  }
}

TEST(Reference, WrongArchitectureForTheTaskFailsToLoad) {
  auto runtime = make_runtime();
  // A BERT encoder cannot generate, and an embedder has no classification head to rerank with.
  expect_load_failure(runtime->generator(test_model("embedder").string()), test_model("embedder"));
  // (capability_mismatch is as precise here: the file is a fine model, just not a reranker.)
  expect_load_failure(runtime->reranker(test_model("embedder").string()), test_model("embedder"),
                      ErrorCode::capability_mismatch);
}

}  // namespace
}  // namespace xervo
