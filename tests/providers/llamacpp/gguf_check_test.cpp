// Hostile model files: each gives a clear error naming the file, never a crash.
#include <gguf.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "helpers.h"
#include "providers/llamacpp/gguf_check.h"
#include "providers/llamacpp/llama_handles.h"

namespace xervo::testing {
namespace {

namespace fs = std::filesystem;

class BadFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("xervo-badfiles-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& bytes) {
    const auto p = dir_ / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Loads `file` for `task` and returns the error (fails the test if it loads).
  static Error load_error(ModelTask task, const fs::path& file) {
    auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
    auto r = provider->load(spec_for(task, file), nullptr);
    if (r.ok()) {
      ADD_FAILURE() << file << " loaded for " << to_string(task);
      return Error(ErrorCode::internal, "loaded");
    }
    return r.error();
  }
  static void expect_failed_with(const Error& e, ErrorCode code, const fs::path& file,
                                 const std::string& reason) {
    EXPECT_EQ(e.code(), code) << e.to_string();
    EXPECT_NE(e.message().find(file.string()), std::string::npos) << "no path in: " << e.message();
    EXPECT_NE(e.message().find(reason), std::string::npos) << "no '" << reason << "' in: " << e.message();
  }
  // A metadata-only GGUF: the given architecture, plus one 1024-float tensor whose data is absent
  // when `with_data` is false.
  fs::path gguf_with(const std::string& name, const std::string& arch, bool with_data) {
    llamacpp::GgufPtr g(gguf_init_empty());
    gguf_set_val_str(g.get(), "general.architecture", arch.c_str());
    ggml_init_params params{ggml_tensor_overhead() * 2 + 4096 + 64, nullptr, false};
    ggml_context* ctx = ggml_init(params);
    ggml_tensor* t = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, 1024);
    ggml_set_name(t, "token_embd.weight");
    gguf_add_tensor(g.get(), t);
    const auto p = dir_ / name;
    EXPECT_TRUE(gguf_write_to_file(g.get(), p.c_str(), /*only_meta=*/!with_data));
    ggml_free(ctx);
    return p;
  }
  fs::path dir_;
};

TEST_F(BadFiles, MissingFileIsModelNotFound) {
  const auto p = dir_ / "nope.gguf";
  expect_failed_with(load_error(ModelTask::embed, p), ErrorCode::model_not_found, p, "does not exist");
}

TEST_F(BadFiles, EmptyFile) {
  const auto p = write("empty.gguf", "");
  expect_failed_with(load_error(ModelTask::generate, p), ErrorCode::model_load_failed, p, "empty");
}

TEST_F(BadFiles, NotGguf) {
  const auto p = write("text.gguf", "this is a text file pretending to be a model\n");
  expect_failed_with(load_error(ModelTask::embed, p), ErrorCode::model_load_failed, p, "not a GGUF file");
}

TEST_F(BadFiles, TruncatedHeader) {
  const auto p = write("head.gguf", read(test_model("embedder")).substr(0, 100));
  expect_failed_with(load_error(ModelTask::embed, p), ErrorCode::model_load_failed, p, "truncated");
}

TEST_F(BadFiles, TruncatedTensorData) {
  const std::string full = read(test_model("generator"));
  const auto p = write("half.gguf", full.substr(0, full.size() / 2));
  expect_failed_with(load_error(ModelTask::generate, p), ErrorCode::model_load_failed, p, "truncated");
}

TEST_F(BadFiles, HugeTensorCount) {
  std::string bytes = read(test_model("embedder"));
  const int64_t huge = int64_t(1) << 40;
  bytes.replace(8, sizeof huge, reinterpret_cast<const char*>(&huge), sizeof huge);
  const auto p = write("huge.gguf", bytes);
  expect_failed_with(load_error(ModelTask::embed, p), ErrorCode::model_load_failed, p,
                     "1099511627776 tensors");
}

TEST_F(BadFiles, HugeMetadataCount) {
  std::string bytes = read(test_model("embedder"));
  const int64_t huge = int64_t(1) << 50;
  bytes.replace(16, sizeof huge, reinterpret_cast<const char*>(&huge), sizeof huge);
  const auto p = write("hugekv.gguf", bytes);
  expect_failed_with(load_error(ModelTask::embed, p), ErrorCode::model_load_failed, p, "metadata entries");
}

TEST_F(BadFiles, TensorDataPastEndOfFile) {
  const auto p = gguf_with("nodata.gguf", "llama", /*with_data=*/false);
  expect_failed_with(load_error(ModelTask::generate, p), ErrorCode::model_load_failed, p,
                     "token_embd.weight");
}

TEST_F(BadFiles, UnknownArchitecture) {
  const auto p = gguf_with("alien.gguf", "alien-transformer", true);
  expect_failed_with(load_error(ModelTask::generate, p), ErrorCode::model_load_failed, p,
                     "unknown architecture");
}

TEST_F(BadFiles, KnownArchitectureMissingEverythingFailsInLlamaCleanly) {
  const auto p = gguf_with("hollow.gguf", "llama", true);
  expect_failed_with(load_error(ModelTask::generate, p), ErrorCode::model_load_failed, p,
                     "llama.context_length");
}

TEST_F(BadFiles, DuplicateVocabularyEntry) {
  // llama.cpp's vocabulary loader asserts (aborts the process) on this one.
  llamacpp::GgufPtr src(gguf_init_from_file(test_model("generator").c_str(), {true, nullptr}));
  ASSERT_TRUE(src);
  llamacpp::GgufPtr g(gguf_init_empty());
  gguf_set_kv(g.get(), src.get());
  const int64_t id = gguf_find_key(g.get(), "tokenizer.ggml.tokens");
  ASSERT_GE(id, 0);
  std::vector<std::string> words;
  for (size_t i = 0; i < gguf_get_arr_n(g.get(), id); ++i)
    words.emplace_back(gguf_get_arr_str(g.get(), id, i));
  words[300] = words[301];
  std::vector<const char*> ptrs;
  for (const auto& w : words) ptrs.push_back(w.c_str());
  gguf_set_arr_str(g.get(), "tokenizer.ggml.tokens", ptrs.data(), ptrs.size());
  const auto p = dir_ / "dupvocab.gguf";
  ASSERT_TRUE(gguf_write_to_file(g.get(), p.c_str(), false));
  expect_failed_with(load_error(ModelTask::generate, p), ErrorCode::model_load_failed, p, "twice");
}

TEST_F(BadFiles, EncoderAskedToGenerate) {
  const auto p = test_model("embedder");
  expect_failed_with(load_error(ModelTask::generate, p), ErrorCode::model_load_failed, p, "cannot generate");
}

TEST_F(BadFiles, GeneratorAskedToEmbed) {
  const auto p = test_model("generator");
  expect_failed_with(load_error(ModelTask::embed, p), ErrorCode::model_load_failed, p,
                     "not an embedding model");
}

TEST_F(BadFiles, NonRerankerAskedToRerankIsCapabilityMismatch) {
  for (const auto& p : {test_model("embedder"), test_model("generator")})
    expect_failed_with(load_error(ModelTask::rerank, p), ErrorCode::capability_mismatch, p, "not a reranker");
}

TEST_F(BadFiles, RerankerAskedToEmbedIsCapabilityMismatch) {
  const auto p = test_model("reranker");
  expect_failed_with(load_error(ModelTask::embed, p), ErrorCode::capability_mismatch, p, "reranker");
}

TEST(ModelIds, SchemeWithoutLibraryIsModelNotFound) {
  auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
  auto r = provider->load(spec_for(ModelTask::embed, "library:bge-small"), nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::model_not_found);
  EXPECT_NE(r.error().message().find("library is not available"), std::string::npos) << r.error().message();
}

class MapResolver : public ModelResolver {
 public:
  explicit MapResolver(fs::path file) : file_(std::move(file)) {}
  bool handles(std::string_view id) const override { return id.starts_with("library:"); }
  Result<fs::path> resolve(std::string_view id, bool allow_pull) override {
    last_pull = allow_pull;
    if (id == "library:tiny-embedder") return file_;
    return Error(ErrorCode::model_not_found, "no " + std::string(id));
  }
  bool last_pull = false;

 private:
  fs::path file_;
};

TEST(ModelIds, ResolverTurnsLibraryIdsIntoFilesAndGetsThePullOption) {
  auto resolver = std::make_shared<MapResolver>(test_model("embedder"));
  auto provider = make_llamacpp_provider(nlohmann::json::object(), resolver);
  auto spec = spec_for(ModelTask::embed, "library:tiny-embedder", {{"pull", true}});
  auto r = provider->load(spec, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(resolver->last_pull);
  auto missing = provider->load(spec_for(ModelTask::embed, "library:other"), nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::model_not_found);
}

TEST(Provider, CapabilitiesAndHealth) {
  auto provider = make_llamacpp_provider({{"threads", 3}}, nullptr);
  EXPECT_EQ(provider->id(), "llamacpp");
  const auto caps = provider->capabilities();
  EXPECT_TRUE(caps.supports(ModelTask::embed));
  EXPECT_TRUE(caps.supports(ModelTask::rerank));
  EXPECT_TRUE(caps.supports(ModelTask::generate));
  EXPECT_TRUE(caps.streaming);
  EXPECT_TRUE(caps.json_schema);
  const auto h = provider->health();
  EXPECT_TRUE(h.ok);
  EXPECT_NE(h.detail.find("3 threads"), std::string::npos) << h.detail;
  EXPECT_NE(h.detail.find("CPU"), std::string::npos) << h.detail;
}

TEST(Provider, ProgressIsReportedFromZeroToOne) {
  auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
  std::vector<float> seen;
  auto r = provider->load(spec_for(ModelTask::embed, test_model("embedder")),
                          [&](float f, std::string_view) { seen.push_back(f); });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen.front(), 0.0f);
  EXPECT_EQ(seen.back(), 1.0f);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i], seen[i - 1]);
}

}  // namespace
}  // namespace xervo::testing
