// The checkpoint converter: a tiny BERT checkpoint written here (random weights, safetensors
// written byte by byte) converts, loads in llama.cpp, and embeds or scores like a reference
// forward pass of the same weights; broken and hostile checkpoints fail with clear errors and
// leave no output behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>

#include "gguf.h"

#include "hf_checkpoint_writer.h"
#include "hf_convert.h"
#include "llama_embed.h"
#include "safetensors.h"

namespace xervo::hfconvert {
namespace {

namespace fs = std::filesystem;
using testing::HfTensor;
using testing::TinyBert;

class HfConvert : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("xervo-hfconvert-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path checkpoint(const TinyBert& m) {
    testing::write_checkpoint(m, dir_ / "ckpt");
    return dir_ / "ckpt";
  }
  Result<ConvertReport> convert(const fs::path& in, OutputType type = OutputType::f16) {
    return convert_checkpoint({in, dir_ / "out.gguf", type});
  }
  // Converting must fail with invalid_input whose message holds `needle`, writing nothing.
  void expect_refused(const fs::path& in, const std::string& needle) {
    auto r = convert(in);
    ASSERT_FALSE(r) << "converted a broken checkpoint";
    EXPECT_EQ(r.error().code(), ErrorCode::invalid_input) << r.error().message();
    EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().message();
    EXPECT_FALSE(fs::exists(dir_ / "out.gguf"));
    for (const auto& e : fs::directory_iterator(dir_))
      EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << "left " << e.path();
  }
  void write_bytes(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary) << bytes;
  }
  std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  fs::path dir_;
};

double cosine(const std::vector<double>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += double(b[i]) * b[i];
  return ab / std::sqrt(aa * bb);
}

TEST_F(HfConvert, EmbedderMatchesReferenceForwardInLlamaCpp) {
  const TinyBert m = testing::make_tiny_bert(7);
  auto report = convert(checkpoint(m), OutputType::f32);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->checkpoint.pooling, CheckpointPooling::mean);
  EXPECT_TRUE(report->checkpoint.pooling_declared);
  EXPECT_TRUE(report->checkpoint.normalize);
  for (const char* text : {"the cat sat on the mat", "hello world", "paris is the capital of france ."}) {
    auto out = testing::llama_embed(dir_ / "out.gguf", text);
    ASSERT_TRUE(out.error.empty()) << out.error;
    ASSERT_EQ(out.values.size(), 64u);
    // [CLS] first and [SEP] last: the vocabulary's specials were written as llama.cpp expects.
    ASSERT_GE(out.tokens.size(), 3u);
    EXPECT_EQ(out.tokens.front(), 2);
    EXPECT_EQ(out.tokens.back(), 3);
    for (int id : out.tokens) EXPECT_NE(id, 1) << "unknown token in \"" << text << "\": tokenizer mismatch";
    EXPECT_GT(cosine(testing::reference_forward(m, out.tokens), out.values), 0.999) << text;
  }
}

std::vector<std::string> sources_of(const fs::path& gguf) {
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  std::unique_ptr<gguf_context, decltype(&gguf_free)> ctx(gguf_init_from_file(gguf.c_str(), params),
                                                          &gguf_free);
  std::vector<std::string> out;
  if (!ctx) return out;
  const int64_t id = gguf_find_key(ctx.get(), kSourcesKey);
  if (id < 0) return out;
  for (size_t i = 0; i < gguf_get_arr_n(ctx.get(), id); ++i)
    out.push_back(gguf_get_arr_str(ctx.get(), id, i));
  return out;
}

TEST_F(HfConvert, RecordsEachSourceFilesSha256InTheGguf) {
  const auto in = checkpoint(testing::make_tiny_bert(2));
  ASSERT_TRUE(convert(in));
  const auto first = sources_of(dir_ / "out.gguf");
  ASSERT_EQ(first.size(), 6u);  // config, weights, vocab, tokenizer_config, modules, pooling config
  for (const auto& line : first) EXPECT_EQ(line.find("  "), 64u) << line;
  EXPECT_NE(std::find_if(first.begin(), first.end(),
                         [](const std::string& l) { return l.ends_with("  model.safetensors"); }),
            first.end());
  std::ofstream(in / "config.json", std::ios::app) << "\n";  // same meaning, other bytes
  ASSERT_TRUE(convert(in));
  const auto second = sources_of(dir_ / "out.gguf");
  ASSERT_EQ(second.size(), first.size());
  EXPECT_NE(second[0], first[0]);  // config.json's hash changed
  for (size_t i = 1; i < first.size(); ++i) EXPECT_EQ(second[i], first[i]);
}

TEST_F(HfConvert, WordPiecePiecesSplitLikeTheCheckpoint) {
  auto report = convert(checkpoint(testing::make_tiny_bert(7)));
  ASSERT_TRUE(report) << report.error().message();
  // "cats" = cat + ##s, "Reading" lower-cased = read + ##ing (do_lower_case in tokenizer_config).
  auto out = testing::llama_embed(dir_ / "out.gguf", "cats Reading");
  ASSERT_TRUE(out.error.empty()) << out.error;
  const std::vector<int> want = {2, 7, 23, 35, 24, 3};
  EXPECT_EQ(out.tokens, want);
}

TEST_F(HfConvert, F16AndQ8EmbeddersStayCloseToF32) {
  const TinyBert m = testing::make_tiny_bert(11);
  const auto in = checkpoint(m);
  for (auto type : {OutputType::f16, OutputType::q8_0}) {
    auto report = convert(in, type);
    ASSERT_TRUE(report) << report.error().message();
    auto out = testing::llama_embed(dir_ / "out.gguf", "the big dogs run");
    ASSERT_TRUE(out.error.empty()) << out.error;
    EXPECT_GT(cosine(testing::reference_forward(m, out.tokens), out.values), 0.99) << to_string(type);
  }
}

TEST_F(HfConvert, CrossEncoderScoresLikeReference) {
  const TinyBert m = testing::make_tiny_bert(5, /*classifier=*/true);
  auto report = convert(checkpoint(m), OutputType::f32);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->checkpoint.pooling, CheckpointPooling::rank);
  for (const char* text : {"the cat", "paris is the capital of france", "blue moon water"}) {
    auto out = testing::llama_embed(dir_ / "out.gguf", text);
    ASSERT_TRUE(out.error.empty()) << out.error;
    ASSERT_EQ(out.values.size(), 1u);
    const double want = testing::reference_forward(m, out.tokens)[0];
    EXPECT_NEAR(out.values[0], want, 1e-3 + 1e-3 * std::fabs(want)) << text;
  }
}

TEST_F(HfConvert, ShapeThatDisagreesWithConfigIsRefused) {
  TinyBert m = testing::make_tiny_bert(1);
  const auto in = checkpoint(m);
  auto config = m.config();
  config["intermediate_size"] = 96;
  std::ofstream(in / "config.json") << config.dump();
  expect_refused(in, "config.json implies [96, 64]");
}

TEST_F(HfConvert, MissingLayerIsRefused) {
  TinyBert m = testing::make_tiny_bert(1);
  m.tensors.erase("encoder.layer.1.attention.self.key.weight");
  expect_refused(checkpoint(m), "lacks tensor encoder.layer.1.attention.self.key.weight");
}

TEST_F(HfConvert, UnknownTensorIsRefusedNotDropped) {
  TinyBert m = testing::make_tiny_bert(1);
  m.tensors["encoder.layer.0.attention.self.rotary.weight"] = HfTensor{{4}, {1, 2, 3, 4}};
  expect_refused(checkpoint(m), "unexpected tensor encoder.layer.0.attention.self.rotary.weight");
}

TEST_F(HfConvert, TruncatedSafetensorsIsRefused) {
  const auto in = checkpoint(testing::make_tiny_bert(1));
  const std::string bytes = read_bytes(in / "model.safetensors");
  write_bytes(in / "model.safetensors", bytes.substr(0, bytes.size() - 1000));
  expect_refused(in, "outside the");
}

TEST_F(HfConvert, OffsetsPastTheDataAreRefused) {
  std::map<std::string, HfTensor> one = {{"x", HfTensor{{4}, {1, 2, 3, 4}}}};
  std::string bytes = testing::safetensors_bytes(one);
  const auto pos = bytes.find("[0,16]");
  ASSERT_NE(pos, std::string::npos);
  bytes.replace(pos, 6, "[0,99]");
  write_bytes(dir_ / "x.safetensors", bytes);
  auto r = SafetensorsFile::open(dir_ / "x.safetensors");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("[0, 99] lie outside"), std::string::npos) << r.error().message();
}

TEST_F(HfConvert, LengthThatDisagreesWithShapeIsRefused) {
  std::map<std::string, HfTensor> one = {{"x", HfTensor{{4}, {1, 2, 3, 4}}}};
  std::string bytes = testing::safetensors_bytes(one);
  bytes.replace(bytes.find("[4]"), 3, "[5]");
  write_bytes(dir_ / "x.safetensors", bytes);
  auto r = SafetensorsFile::open(dir_ / "x.safetensors");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("needs 20"), std::string::npos) << r.error().message();
}

TEST_F(HfConvert, HugeHeaderLengthIsRefusedBeforeAllocating) {
  std::string bytes(8, '\0');
  bytes[7] = 0x40;  // 2^62 bytes
  bytes += "{}";
  write_bytes(dir_ / "x.safetensors", bytes);
  auto r = SafetensorsFile::open(dir_ / "x.safetensors");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("exceeds the limit"), std::string::npos) << r.error().message();
  bytes = std::string("\x10\x00\x00\x00\x00\x00\x00\x00", 8) + "{}";  // 16 bytes claimed, 2 there
  write_bytes(dir_ / "y.safetensors", bytes);
  r = SafetensorsFile::open(dir_ / "y.safetensors");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("runs past the end"), std::string::npos) << r.error().message();
}

TEST_F(HfConvert, HeaderThatIsNotJsonIsRefused) {
  write_bytes(dir_ / "x.safetensors", std::string("\x04\x00\x00\x00\x00\x00\x00\x00", 8) + "{{{{");
  auto r = SafetensorsFile::open(dir_ / "x.safetensors");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("not a JSON object"), std::string::npos) << r.error().message();
}

TEST_F(HfConvert, PickleIsRefusedAndNeverRun) {
  const auto in = checkpoint(testing::make_tiny_bert(1));
  fs::remove(in / "model.safetensors");
  // A pickle whose loading would run `touch <marker>` (GLOBAL posix.system + REDUCE).
  const fs::path marker = dir_ / "pwned";
  write_bytes(in / "pytorch_model.bin", "cposix\nsystem\n(Vtouch " + marker.string() + "\ntR.");
  expect_refused(in, "PyTorch pickle");
  EXPECT_FALSE(fs::exists(marker));
  auto r = convert(in);
  EXPECT_NE(r.error().message().find("model.safetensors"), std::string::npos) << r.error().message();
}

TEST_F(HfConvert, VocabularyThatDisagreesWithConfigIsRefused) {
  TinyBert m = testing::make_tiny_bert(1);
  const auto in = checkpoint(m);
  std::ofstream(in / "vocab.txt", std::ios::app) << "extra\n";
  expect_refused(in, "config.json says vocab_size 40");
}

TEST_F(HfConvert, UnsupportedArchitectureIsRefused) {
  TinyBert m = testing::make_tiny_bert(1);
  const auto in = checkpoint(m);
  auto config = m.config();
  config["model_type"] = "llama";
  std::ofstream(in / "config.json") << config.dump();
  expect_refused(in, "model_type \"llama\" is not supported");
}

TEST_F(HfConvert, PoolingModulePathOutsideTheFolderIsRefused) {
  const auto in = checkpoint(testing::make_tiny_bert(1));
  std::ofstream(in / "modules.json")
      << R"([{"type":"sentence_transformers.models.Pooling","path":"../../etc"}])";
  expect_refused(in, "leaves the checkpoint folder");
}

TEST_F(HfConvert, TokenizerJsonAloneIsEnough) {
  const TinyBert m = testing::make_tiny_bert(3);
  const auto in = checkpoint(m);
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t i = 0; i < m.vocab.size(); ++i) vocab[m.vocab[i]] = i;
  std::ofstream(in / "tokenizer.json") << nlohmann::json{
      {"model", {{"type", "WordPiece"}, {"vocab", vocab}}},
      {"normalizer", {{"lowercase", true}}}}.dump();
  fs::remove(in / "vocab.txt");
  auto report = convert(in, OutputType::f32);
  ASSERT_TRUE(report) << report.error().message();
  auto out = testing::llama_embed(dir_ / "out.gguf", "hello world");
  ASSERT_TRUE(out.error.empty()) << out.error;
  EXPECT_GT(cosine(testing::reference_forward(m, out.tokens), out.values), 0.999);
}

}  // namespace
}  // namespace xervo::hfconvert
