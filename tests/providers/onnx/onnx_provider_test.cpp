// The onnx provider on tiny graphs written by the test (onnx_writer.h) beside a tiny checkpoint's
// tokenizer files: pooling over the mask, padding in mixed batches, normalization, cross-encoder
// pairs, limits, and every hostile file or option the loader must refuse with a clear error.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "hf_checkpoint_writer.h"
#include "onnx_test_support.h"
#include "onnx_writer.h"
#include "xervo/providers.h"
#include "xervo/runtime.h"

namespace xervo::testing {
namespace {

namespace fs = std::filesystem;

class OnnxProvider : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("xervo-onnx-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    bert_ = make_tiny_bert(7);
    for (size_t i = 0; i < bert_.vocab.size(); ++i) ids_[bert_.vocab[i]] = static_cast<int>(i);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A model folder: the tiny checkpoint's files and `graph` as model.onnx.
  fs::path folder(const TinyGraph& graph, bool classifier = false, const std::string& sub = "m") {
    const fs::path d = dir_ / sub;
    write_checkpoint(classifier ? make_tiny_bert(7, true) : bert_, d);
    fs::remove(d / "model.safetensors");
    write_onnx(graph, d / "model.onnx");
    return d;
  }
  TinyGraph embedder() const {
    TinyGraph g;
    g.vocab = static_cast<int>(bert_.vocab.size());
    g.width = bert_.hidden;
    g.table = random_table(g.vocab, g.width, 11);
    return g;
  }
  Result<LoadedModel> load(const fs::path& model, ModelTask task = ModelTask::embed,
                           nlohmann::json options = nlohmann::json::object()) {
    auto provider = make_onnx_provider(nlohmann::json::object());
    ModelSpec spec;
    spec.alias = "test";
    spec.task = task;
    spec.provider = "onnx";
    spec.model = model.string();
    spec.options = std::move(options);
    return provider->load(spec, {});
  }
  // [CLS] words [SEP] as ids of the tiny vocabulary.
  std::vector<int> ids(const std::string& text) const {
    std::vector<int> out = {ids_.at("[CLS]")};
    std::istringstream in(text);
    for (std::string w; in >> w;) out.push_back(ids_.at(w));
    out.push_back(ids_.at("[SEP]"));
    return out;
  }
  static std::vector<double> mean_rows(const TinyGraph& g, const std::vector<int>& ids, bool normalize) {
    std::vector<double> v(static_cast<size_t>(g.width), 0.0);
    for (int id : ids)
      for (int h = 0; h < g.width; ++h)
        v[static_cast<size_t>(h)] += g.table[static_cast<size_t>(id * g.width + h)];
    double norm = 0;
    for (auto& x : v) x /= static_cast<double>(ids.size()), norm += x * x;
    if (normalize)
      for (auto& x : v) x /= std::sqrt(norm);
    return v;
  }

  fs::path dir_;
  TinyBert bert_;
  std::map<std::string, int> ids_;
};

void expect_near(const std::vector<float>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "at " << i;
}

TEST_F(OnnxProvider, EmbedsTheMaskedMeanOfTheTokenStatesNormalized) {
  SKIP_WITHOUT_ORT();
  const TinyGraph g = embedder();
  auto loaded = load(folder(g));
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  ASSERT_TRUE(loaded->embedding);
  EXPECT_EQ(loaded->embedding->dimensions(), g.width);
  EXPECT_EQ(loaded->info["pooling"], "mean");
  EXPECT_EQ(loaded->info["normalize"], true);
  const std::vector<std::string> texts = {"the cat sat on the mat", "hello world"};
  auto r = loaded->embedding->embed(texts, {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  expect_near(r->vectors[0], mean_rows(g, ids(texts[0]), true));
  expect_near(r->vectors[1], mean_rows(g, ids(texts[1]), true));  // padded to the first: mask keeps it out
  EXPECT_EQ(r->usage.prompt_tokens, static_cast<int64_t>(ids(texts[0]).size() + ids(texts[1]).size()));
}

TEST_F(OnnxProvider, WordPiecesComeFromLlamaCppsTokenizer) {
  SKIP_WITHOUT_ORT();
  const TinyGraph g = embedder();
  auto loaded = load(folder(g));
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  // "Cats" -> cat ##s (lower-cased, split into pieces), "reading" -> read ##ing, "?" its own token;
  // "running" has no piece for "##n": the whole word is [UNK], as BERT's tokenizer does it.
  const std::vector<std::string> texts = {"Cats reading? running"};
  auto r = loaded->embedding->embed(texts, {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  expect_near(r->vectors[0], mean_rows(g,
                                       {ids_["[CLS]"], ids_["cat"], ids_["##s"], ids_["read"], ids_["##ing"],
                                        ids_["?"], ids_["[UNK]"], ids_["[SEP]"]},
                                       true));
}

TEST_F(OnnxProvider, MixedLengthBatchesGiveTheOneByOneVectors) {
  SKIP_WITHOUT_ORT();
  auto loaded = load(folder(embedder()), ModelTask::embed, {{"batch_size", 3}});
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  std::vector<std::string> texts = {
      "a",    "the big red car", "sun", "the cat sat on the mat . the dog sat", "moon water",
      "book", "read the book"};
  auto all = loaded->embedding->embed(texts, {});
  ASSERT_TRUE(all.ok()) << all.error().to_string();
  for (size_t i = 0; i < texts.size(); ++i) {
    auto one = loaded->embedding->embed(std::span<const std::string>(&texts[i], 1), {});
    ASSERT_TRUE(one.ok());
    for (size_t k = 0; k < one->vectors[0].size(); ++k)
      ASSERT_NEAR(all->vectors[i][k], one->vectors[0][k], 1e-6) << "input " << i;
  }
}

TEST_F(OnnxProvider, PoolingAndNormalizeOptionsOverrideTheFolder) {
  SKIP_WITHOUT_ORT();
  const TinyGraph g = embedder();
  auto loaded = load(folder(g), ModelTask::embed, {{"pooling", "cls"}, {"normalize", false}});
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  const std::vector<std::string> texts = {"hello world"};
  auto r = loaded->embedding->embed(texts, {});
  ASSERT_TRUE(r.ok());
  expect_near(r->vectors[0], mean_rows(g, {ids_["[CLS]"]}, false));
}

TEST_F(OnnxProvider, DimensionsShortenThenNormalize) {
  SKIP_WITHOUT_ORT();
  const TinyGraph g = embedder();
  auto loaded = load(folder(g));
  ASSERT_TRUE(loaded.ok());
  EmbedOptions o;
  o.dimensions = 5;
  const std::vector<std::string> texts = {"red car"};
  auto r = loaded->embedding->embed(texts, o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->vectors[0].size(), 5u);
  auto full = mean_rows(g, ids("red car"), false);
  full.resize(5);
  double n = 0;
  for (double x : full) n += x * x;
  for (auto& x : full) x /= std::sqrt(n);
  expect_near(r->vectors[0], full);
  o.dimensions = g.width + 1;
  EXPECT_EQ(loaded->embedding->embed(texts, o).error().code(), ErrorCode::invalid_input);
}

TEST_F(OnnxProvider, LongInputsOverflowOrAreCutKeepingSep) {
  SKIP_WITHOUT_ORT();
  const TinyGraph g = embedder();
  const fs::path m = folder(g);
  auto strict = load(m, ModelTask::embed, {{"context_size", 6}});
  ASSERT_TRUE(strict.ok());
  const std::vector<std::string> texts = {"the cat sat on the mat"};  // 8 tokens with [CLS] and [SEP]
  auto r = strict->embedding->embed(texts, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::context_overflow);
  EXPECT_NE(r.error().message().find("at most 6 tokens"), std::string::npos) << r.error().message();
  EmbedOptions cut;
  cut.truncate = true;
  r = strict->embedding->embed(texts, cut);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  expect_near(r->vectors[0], mean_rows(g, ids("the cat sat on"), true));
  // Megabytes of text are refused before tokenizing: the bound is bytes per token of context.
  const std::vector<std::string> huge = {std::string(6 * 128 + 1, 'x')};
  EXPECT_EQ(strict->embedding->embed(huge, {}).error().code(), ErrorCode::context_overflow);
  EXPECT_TRUE(strict->embedding->embed(huge, cut).ok());
}

TEST_F(OnnxProvider, TooManyInputsInOneCallAreRefused) {
  SKIP_WITHOUT_ORT();
  auto loaded = load(folder(embedder()), ModelTask::embed, {{"max_inputs", 4}});
  ASSERT_TRUE(loaded.ok());
  const std::vector<std::string> texts(5, "sun");
  auto r = loaded->embedding->embed(texts, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::invalid_input);
  EXPECT_NE(r.error().message().find("max_inputs"), std::string::npos);
  EXPECT_TRUE(loaded->embedding->embed(std::span<const std::string>(texts.data(), 4), {}).ok());
}

TEST_F(OnnxProvider, ACancelledCallReturnsCancelled) {
  SKIP_WITHOUT_ORT();
  auto loaded = load(folder(embedder()));
  ASSERT_TRUE(loaded.ok());
  std::stop_source stop;
  stop.request_stop();
  EmbedOptions o;
  o.cancel = stop.get_token();
  const std::vector<std::string> texts = {"sun"};
  EXPECT_EQ(loaded->embedding->embed(texts, o).error().code(), ErrorCode::cancelled);
}

TEST_F(OnnxProvider, RerankScoresQueryDocumentPairsFromTheLogits) {
  SKIP_WITHOUT_ORT();
  TinyGraph g;
  g.vocab = static_cast<int>(bert_.vocab.size());
  g.width = 1;
  g.table.assign(static_cast<size_t>(g.vocab), 0.0f);
  g.table[static_cast<size_t>(ids_["paris"])] = 3.0f;
  g.table[static_cast<size_t>(ids_["france"])] = 2.0f;
  g.table[static_cast<size_t>(ids_["[SEP]"])] = 0.25f;
  g.pooled = true;
  g.output = "logits";
  g.token_type_ids = true;
  auto loaded = load(folder(g, /*classifier=*/true), ModelTask::rerank);
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  ASSERT_TRUE(loaded->reranker);
  const std::vector<std::string> docs = {"the dog sat", "paris is the capital of france", "france"};
  auto r = loaded->reranker->rerank("capital", docs, std::nullopt, {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->results.size(), 3u);
  EXPECT_EQ(r->results[0].index, 1u);
  EXPECT_NEAR(r->results[0].score, 3.0 + 2.0 + 0.5, 1e-5);  // two [SEP] in a pair
  EXPECT_EQ(r->results[1].index, 2u);
  EXPECT_NEAR(r->results[2].score, 0.5, 1e-5);
  auto top = loaded->reranker->rerank("capital", docs, 1, {});
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->results.size(), 1u);
}

TEST_F(OnnxProvider, EstimateCountsTheGraphFile) {
  SKIP_WITHOUT_ORT();
  const fs::path m = folder(embedder());
  auto provider = make_onnx_provider(nlohmann::json::object());
  ModelSpec spec;
  spec.task = ModelTask::embed;
  spec.model = m.string();
  auto e = provider->estimate(spec, {});
  ASSERT_TRUE(e.ok()) << e.error().to_string();
  EXPECT_EQ(e->weights, fs::file_size(m / "model.onnx"));
  EXPECT_GT(e->compute, 0u);
  auto loaded = load(m);
  ASSERT_TRUE(loaded.ok());
  EXPECT_GE(loaded->memory_bytes, fs::file_size(m / "model.onnx"));
}

// --- hostile files and options ------------------------------------------------------------------------

void expect_error(const Result<LoadedModel>& r, ErrorCode code, const std::string& needle) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), code) << r.error().to_string();
  EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().message();
}

TEST_F(OnnxProvider, MissingModelIsModelNotFound) {
  SKIP_WITHOUT_ORT();
  expect_error(load(dir_ / "nothing-here"), ErrorCode::model_not_found, "no ONNX model");
  fs::create_directories(dir_ / "empty-folder");
  expect_error(load(dir_ / "empty-folder"), ErrorCode::model_not_found, "model.onnx");
}

TEST_F(OnnxProvider, EmptyGarbageAndTruncatedGraphsAreRefused) {
  SKIP_WITHOUT_ORT();
  const fs::path m = folder(embedder());
  std::string good;
  {
    std::ifstream in(m / "model.onnx", std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(m / "model.onnx", std::ios::trunc).close();
  expect_error(load(m), ErrorCode::invalid_input, "is empty");
  std::ofstream(m / "model.onnx", std::ios::trunc | std::ios::binary) << std::string(4096, '\xff');
  expect_error(load(m), ErrorCode::model_load_failed, "cannot load");
  std::ofstream(m / "model.onnx", std::ios::trunc | std::ios::binary) << good.substr(0, good.size() / 2);
  expect_error(load(m), ErrorCode::model_load_failed, "cannot load");
}

TEST_F(OnnxProvider, GraphsWithoutBertInputsOrOutputsAreRefused) {
  SKIP_WITHOUT_ORT();
  TinyGraph g = embedder();
  g.ids_input = "pixel_values";
  expect_error(load(folder(g, false, "a")), ErrorCode::model_load_failed, "pixel_values");
  g = embedder();
  g.output = "something_else";
  expect_error(load(folder(g, false, "b")), ErrorCode::capability_mismatch, "something_else");
  g.output_type = 7;  // int64
  g.output = "last_hidden_state";
  expect_error(load(folder(g, false, "c")), ErrorCode::model_load_failed, "not a float32 tensor");
  g = embedder();
  expect_error(load(folder(g, false, "d"), ModelTask::rerank), ErrorCode::capability_mismatch,
               "no output for rerank");
  expect_error(load(folder(g, false, "e"), ModelTask::embed, {{"output", "nope"}}), ErrorCode::config_invalid,
               "nope");
  expect_error(load(folder(g, false, "f"), ModelTask::generate), ErrorCode::capability_mismatch,
               "embed and rerank");
}

TEST_F(OnnxProvider, FolderWithoutTokenizerIsRefused) {
  SKIP_WITHOUT_ORT();
  const fs::path m = folder(embedder());
  fs::remove(m / "vocab.txt");
  expect_error(load(m), ErrorCode::invalid_input, "vocab.txt");
  fs::remove(m / "config.json");
  expect_error(load(m), ErrorCode::model_not_found, "config.json");
}

TEST_F(OnnxProvider, MissingLibraryIsUnavailableAndSaysSo) {
  const fs::path m = dir_ / "m";  // not even a model: the library is looked for after the folder
  TinyGraph g = embedder();
  const fs::path f = folder(g);
  expect_error(load(f, ModelTask::embed, {{"library", (dir_ / "libonnxruntime.so").string()}}),
               ErrorCode::unavailable, "ONNX Runtime is not installed");
  std::ofstream(dir_ / "fake.so") << "not a library";
  expect_error(load(f, ModelTask::embed, {{"library", (dir_ / "fake.so").string()}}), ErrorCode::unavailable,
               "cannot load ONNX Runtime");
  auto provider = make_onnx_provider({{"library", (dir_ / "libonnxruntime.so").string()}});
  EXPECT_FALSE(provider->health().ok);
  (void)m;
}

TEST_F(OnnxProvider, UnknownOrMistypedOptionsAreConfigInvalid) {
  SKIP_WITHOUT_ORT();
  const fs::path m = folder(embedder());
  expect_error(load(m, ModelTask::embed, {{"contxt_size", 8}}), ErrorCode::config_invalid, "contxt_size");
  expect_error(load(m, ModelTask::embed, {{"batch_size", 0}}), ErrorCode::config_invalid, "batch_size");
  expect_error(load(m, ModelTask::embed, {{"pooling", "max"}}), ErrorCode::config_invalid, "pooling");
  expect_error(load(m, ModelTask::embed, {{"normalize", "yes"}}), ErrorCode::config_invalid, "normalize");
}

}  // namespace
}  // namespace xervo::testing
