// The generated test models are real: llama.cpp's own tools load and run them unchanged, and
// the generator is deterministic in its seed.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <memory>

#include "gguf.h"
#include "process.h"
#include "test_models.h"
#include "testmodel.h"

namespace xervo {
namespace {

using testing::llama_tool;
using testing::run_command;
using testing::test_model;

struct GgufFree {
  void operator()(gguf_context* c) const { gguf_free(c); }
};
using Gguf = std::unique_ptr<gguf_context, GgufFree>;

Gguf open_gguf(const std::filesystem::path& path) {
  return Gguf(gguf_init_from_file(path.c_str(), gguf_init_params{true, nullptr}));
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string tensor_bytes(const std::filesystem::path& path, const char* name) {
  auto g = open_gguf(path);
  const int64_t id = gguf_find_tensor(g.get(), name);
  if (id < 0) return {};
  const std::string file = read_bytes(path);
  const size_t at = gguf_get_data_offset(g.get()) + gguf_get_tensor_offset(g.get(), id);
  return file.substr(at, gguf_get_tensor_size(g.get(), id));
}

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("xervo-testmodel-" + std::to_string(::getpid()) + "-" + name);
}

void expect_sane_vector(const nlohmann::json& v, size_t dims) {
  ASSERT_EQ(v.size(), dims);
  double norm = 0;
  for (const auto& x : v) {
    ASSERT_TRUE(std::isfinite(x.get<double>()));
    norm += x.get<double>() * x.get<double>();
  }
  EXPECT_GT(norm, 1e-6);
}

TEST(TestModel, TinyGeneratorRunsInLlamaSimple) {
  auto r = run_command({llama_tool("llama-simple").string(), "-m", test_model("generator").string(), "-n",
                        "16", "Hello world"});
  ASSERT_FALSE(r.timed_out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Hello world"), std::string::npos) << r.out;
  EXPECT_GT(r.out.size(), std::string("<s> Hello world").size() + 8) << "no generated text: " << r.out;
}

TEST(TestModel, QuantizedGeneratorRunsInLlamaSimple) {
  auto r = run_command({llama_tool("llama-simple").string(), "-m",
                        test_model("generator", "tiny", "--type q8_0").string(), "-n", "8", "Hello"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Hello"), std::string::npos);
}

TEST(TestModel, TinyEmbedderEmbedsInLlamaServer) {
  testing::LlamaServer server(test_model("embedder"), {"--embeddings", "-c", "512"});
  auto res = server.post("/v1/embeddings", {{"input", {"hello world", "a rather different sentence"}}});
  ASSERT_EQ(res["data"].size(), 2u);
  expect_sane_vector(res["data"][0]["embedding"], 64);
  expect_sane_vector(res["data"][1]["embedding"], 64);
  EXPECT_NE(res["data"][0]["embedding"], res["data"][1]["embedding"]);
}

TEST(TestModel, ClsPooledQuantizedEmbedderEmbedsInLlamaServer) {
  testing::LlamaServer server(test_model("embedder", "tiny", "--pooling cls --type q8_0"),
                              {"--embeddings", "-c", "512"});
  auto res = server.post("/v1/embeddings", {{"input", "hello world"}});
  ASSERT_EQ(res["data"].size(), 1u);
  expect_sane_vector(res["data"][0]["embedding"], 64);
}

TEST(TestModel, TinyRerankerScoresInLlamaServer) {
  testing::LlamaServer server(test_model("reranker"), {"--reranking", "-c", "512"});
  auto res = server.post(
      "/v1/rerank",
      {{"query", "what is a cat"}, {"documents", {"a cat is an animal", "stocks fell today", "cats purr"}}});
  ASSERT_EQ(res["results"].size(), 3u);
  std::vector<bool> seen(3, false);
  for (const auto& r : res["results"]) {
    seen.at(r["index"].get<size_t>()) = true;
    EXPECT_TRUE(std::isfinite(r["relevance_score"].get<double>()));
  }
  EXPECT_EQ(seen, std::vector<bool>(3, true));
}

TEST(TestModel, SameSeedGivesIdenticalBytes) {
  testmodel::TestModelOptions o;
  o.kind = testmodel::ModelKind::embedder;
  o.seed = 7;
  o.output = temp_path("a.gguf");
  ASSERT_TRUE(testmodel::write_test_model(o).ok());
  o.output = temp_path("b.gguf");
  ASSERT_TRUE(testmodel::write_test_model(o).ok());
  const auto a = read_bytes(temp_path("a.gguf")), b = read_bytes(temp_path("b.gguf"));
  EXPECT_GT(a.size(), 1000000u);
  EXPECT_TRUE(a == b);
  std::filesystem::remove(temp_path("a.gguf"));
  std::filesystem::remove(temp_path("b.gguf"));
}

TEST(TestModel, DifferentSeedGivesDifferentWeightsSameLayout) {
  testmodel::TestModelOptions o;
  o.seed = 1;
  o.output = temp_path("s1.gguf");
  ASSERT_TRUE(testmodel::write_test_model(o).ok());
  o.seed = 2;
  o.output = temp_path("s2.gguf");
  ASSERT_TRUE(testmodel::write_test_model(o).ok());
  auto g1 = open_gguf(temp_path("s1.gguf")), g2 = open_gguf(temp_path("s2.gguf"));
  ASSERT_EQ(gguf_get_n_tensors(g1.get()), gguf_get_n_tensors(g2.get()));
  EXPECT_EQ(gguf_get_meta_size(g1.get()), gguf_get_meta_size(g2.get()));
  for (const char* name : {"token_embd.weight", "blk.1.ffn_down.weight"}) {
    const auto t1 = tensor_bytes(temp_path("s1.gguf"), name), t2 = tensor_bytes(temp_path("s2.gguf"), name);
    ASSERT_FALSE(t1.empty()) << name;
    EXPECT_EQ(t1.size(), t2.size());
    EXPECT_NE(t1, t2) << name;
  }
  // Norms are ones whatever the seed.
  EXPECT_EQ(tensor_bytes(temp_path("s1.gguf"), "output_norm.weight"),
            tensor_bytes(temp_path("s2.gguf"), "output_norm.weight"));
  std::filesystem::remove(temp_path("s1.gguf"));
  std::filesystem::remove(temp_path("s2.gguf"));
}

TEST(TestModel, GeneratorHasGroupedQueryAttentionAndChatTemplate) {
  auto g = open_gguf(test_model("generator"));
  ASSERT_TRUE(g);
  EXPECT_STREQ(gguf_get_val_str(g.get(), gguf_find_key(g.get(), "general.architecture")), "llama");
  const auto heads = gguf_get_val_u32(g.get(), gguf_find_key(g.get(), "llama.attention.head_count"));
  const auto kv = gguf_get_val_u32(g.get(), gguf_find_key(g.get(), "llama.attention.head_count_kv"));
  EXPECT_LT(kv, heads);
  const int64_t tmpl = gguf_find_key(g.get(), "tokenizer.chat_template");
  ASSERT_GE(tmpl, 0);
  EXPECT_NE(std::string(gguf_get_val_str(g.get(), tmpl)).find("<|im_start|>"), std::string::npos);
  EXPECT_EQ(gguf_get_arr_n(g.get(), gguf_find_key(g.get(), "tokenizer.ggml.tokens")), 32000u);
  const int64_t k = gguf_find_tensor(g.get(), "blk.0.attn_k.weight");
  ASSERT_GE(k, 0);
  EXPECT_EQ(gguf_get_tensor_ne(g.get(), k)[0], 64);
  EXPECT_EQ(gguf_get_tensor_ne(g.get(), k)[1], 64 / heads * kv);
}

TEST(TestModel, VocabularyWithItsOwnChatTemplateKeepsIt) {
  auto vocab = open_gguf(testing::vocab_dir() / "ggml-vocab-phi-3.gguf");
  auto g = open_gguf(test_model("generator", "tiny", "--vocab phi-3"));
  ASSERT_TRUE(vocab && g);
  const int64_t expected = gguf_find_key(vocab.get(), "tokenizer.chat_template");
  const int64_t actual = gguf_find_key(g.get(), "tokenizer.chat_template");
  ASSERT_GE(expected, 0);
  ASSERT_GE(actual, 0);
  EXPECT_STREQ(gguf_get_val_str(g.get(), actual), gguf_get_val_str(vocab.get(), expected));
  EXPECT_EQ(gguf_get_arr_n(g.get(), gguf_find_key(g.get(), "tokenizer.ggml.tokens")), 32064u);
  auto r = run_command({llama_tool("llama-simple").string(), "-m",
                        test_model("generator", "tiny", "--vocab phi-3").string(), "-n", "4", "Hello"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(TestModel, RerankerHasRankPoolingAndClassifierHead) {
  auto g = open_gguf(test_model("reranker"));
  ASSERT_TRUE(g);
  EXPECT_EQ(gguf_get_val_u32(g.get(), gguf_find_key(g.get(), "bert.pooling_type")), 4u);
  EXPECT_GE(gguf_find_tensor(g.get(), "cls.output.weight"), 0);
  EXPECT_GE(gguf_find_key(g.get(), "tokenizer.ggml.token_type_count"), 0);
}

TEST(TestModel, SizesHaveTheAdvertisedParameterCounts) {
  testmodel::TestModelOptions o;
  o.size = testmodel::ModelSize::medium;
  auto medium = testmodel::describe_test_model(o);
  ASSERT_TRUE(medium.ok()) << medium.error().to_string();
  EXPECT_GT(medium->parameters, 250'000'000u);
  EXPECT_LT(medium->parameters, 290'000'000u);
  o.kind = testmodel::ModelKind::embedder;
  o.size = testmodel::ModelSize::small;
  auto small = testmodel::describe_test_model(o);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->n_embd, 384);
  EXPECT_GT(small->parameters, 30'000'000u);
  EXPECT_LT(small->parameters, 36'000'000u);
}

TEST(TestModel, BadArgumentsExitTwoWithOneLine) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--kind", "llama", "-o", "/tmp/x.gguf"},
                                        {"--kind", "generator"},
                                        {"--kind", "reranker", "--pooling", "cls", "-o", "/tmp/x.gguf"},
                                        {"--size", "huge", "-o", "/tmp/x.gguf"}}) {
    args.insert(args.begin(), XERVO_TESTMODEL_BIN);
    auto r = run_command(args, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 2) << args[1];
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST(TestModel, MissingVocabularyIsModelNotFound) {
  testmodel::TestModelOptions o;
  o.vocab = "no-such-vocab";
  o.output = temp_path("never.gguf");
  auto r = testmodel::write_test_model(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::model_not_found);
  EXPECT_NE(r.error().message().find("ggml-vocab-no-such-vocab.gguf"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(o.output));
}

TEST(TestModel, UnwritableOutputIsIoErrorAndLeavesNothing) {
  testmodel::TestModelOptions o;
  o.output = "/nonexistent-dir/x.gguf";
  auto r = testmodel::write_test_model(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::io_error);
  EXPECT_NE(r.error().message().find("/nonexistent-dir/x.gguf"), std::string::npos);
}

TEST(TestSupport, TestModelIsCachedAcrossCalls) {
  const auto a = test_model("embedder");
  const auto t = std::filesystem::last_write_time(a);
  const auto b = test_model("embedder");
  EXPECT_EQ(a, b);
  EXPECT_EQ(std::filesystem::last_write_time(b), t);
  EXPECT_NE(test_model("embedder", "tiny", "--pooling cls"), a);
}

TEST(TestSupport, RunCommandKillsAfterTimeout) {
  auto r = run_command({"sleep", "30"}, std::chrono::seconds(1));
  EXPECT_TRUE(r.timed_out);
  auto ok = run_command({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_FALSE(ok.timed_out);
  EXPECT_EQ(ok.exit_code, 3);
  EXPECT_EQ(ok.out, "out\n");
  EXPECT_EQ(ok.err, "err\n");
  auto in = testing::run_command_with_input({"cat"}, "piped\n");
  EXPECT_EQ(in.out, "piped\n");
}

}  // namespace
}  // namespace xervo
