// The llama.cpp provider's memory estimate: llama.cpp's own sizing of a load from the file's metadata,
// checked against the file's tensors and against what the real load of the same spec reports.
#include <gguf.h>
#include <unistd.h>

#include <cmath>
#include <fstream>

#include "helpers.h"
#include "providers/llamacpp/llama_handles.h"

namespace xervo::testing {
namespace {

namespace fs = std::filesystem;

MemoryEstimate estimate_or_fail(const ModelSpec& spec) {
  auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
  auto r = provider->estimate(spec, LoadControl{});
  if (!r) {
    ADD_FAILURE() << r.error().to_string();
    return {};
  }
  return *r;
}

// Bytes of tensor data the file holds, from its GGUF header.
uint64_t tensor_bytes(const fs::path& file) {
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  llamacpp::GgufPtr g(gguf_init_from_file(file.c_str(), params));
  if (!g) {
    ADD_FAILURE() << "cannot read " << file;
    return 0;
  }
  uint64_t sum = 0;
  for (int64_t i = 0; i < gguf_get_n_tensors(g.get()); ++i) sum += gguf_get_tensor_size(g.get(), i);
  return sum;
}

// |a - b| relative to b.
double relative_gap(uint64_t a, uint64_t b) {
  return b == 0 ? 1.0 : std::abs(static_cast<double>(a) - static_cast<double>(b)) / static_cast<double>(b);
}

const nlohmann::json kGenerateOptions = {{"context_size", 512}, {"parallel", 2}};

TEST(MemoryEstimate, GeneratorEstimateHasWeightsKvCacheAndCompute) {
  const auto e = estimate_or_fail(spec_for(ModelTask::generate, test_model("generator"), kGenerateOptions));
  EXPECT_GT(e.weights, 0u);
  EXPECT_GT(e.kv_cache, 0u);
  EXPECT_GT(e.compute, 0u);
  EXPECT_EQ(e.total(), e.weights + e.kv_cache + e.compute);
}

TEST(MemoryEstimate, WeightsMatchTheFilesTensorBytes) {
  for (const auto& [task, kind] :
       {std::pair{ModelTask::generate, "generator"}, std::pair{ModelTask::embed, "embedder"},
        std::pair{ModelTask::rerank, "reranker"}}) {
    SCOPED_TRACE(kind);
    const auto file = test_model(kind);
    const auto e = estimate_or_fail(spec_for(task, file));
    const uint64_t bytes = tensor_bytes(file);
    ASSERT_GT(bytes, 0u);
    // llama.cpp pads each tensor to its buffer's alignment: a little more, never less.
    EXPECT_GE(e.weights, bytes);
    EXPECT_LT(relative_gap(e.weights, bytes), 0.02) << e.weights << " vs " << bytes;
  }
}

// The estimate is what the real load of the same spec then reports, part by part.
void expect_estimate_matches_load(ModelTask task, const fs::path& file, const nlohmann::json& options) {
  const auto spec = spec_for(task, file, options);
  const auto e = estimate_or_fail(spec);
  auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
  auto loaded = provider->load(spec, nullptr);
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  const MemoryEstimate& m = loaded->memory;
  for (const auto& [name, value] : {std::pair{"estimated_weights", e.weights},
                                    {"estimated_kv_cache", e.kv_cache},
                                    {"estimated_compute", e.compute},
                                    {"measured_weights", m.weights},
                                    {"measured_kv_cache", m.kv_cache},
                                    {"measured_compute", m.compute}})
    ::testing::Test::RecordProperty(name, std::to_string(value));  // in --gtest_output reports
  EXPECT_EQ(loaded->memory_bytes, m.total());
  EXPECT_LT(relative_gap(e.total(), m.total()), 0.03) << e.total() << " vs " << m.total();
  EXPECT_LT(relative_gap(e.weights, m.weights), 0.03) << e.weights << " vs " << m.weights;
  EXPECT_EQ(e.kv_cache, m.kv_cache);
  EXPECT_LT(relative_gap(e.compute, m.compute), 0.03) << e.compute << " vs " << m.compute;
  EXPECT_EQ(loaded->info["memory"]["weights"], m.weights);
  EXPECT_EQ(loaded->info["memory"]["kv_cache"], m.kv_cache);
  EXPECT_EQ(loaded->info["memory"]["compute"], m.compute);
}

TEST(MemoryEstimate, GeneratorEstimateMatchesTheRealLoad) {
  expect_estimate_matches_load(ModelTask::generate, test_model("generator"), kGenerateOptions);
}

TEST(MemoryEstimate, GeneratorEstimateMatchesTheRealLoadWithoutMmap) {
  auto options = kGenerateOptions;
  options["mmap"] = false;
  expect_estimate_matches_load(ModelTask::generate, test_model("generator"), options);
}

TEST(MemoryEstimate, EmbedderEstimateMatchesTheRealLoad) {
  expect_estimate_matches_load(ModelTask::embed, test_model("embedder"), {{"parallel", 4}});
}

TEST(MemoryEstimate, RerankerEstimateMatchesTheRealLoad) {
  expect_estimate_matches_load(ModelTask::rerank, test_model("reranker"), nlohmann::json::object());
}

TEST(MemoryEstimate, ALargerContextRaisesTheKvCacheOnly) {
  const auto file = test_model("generator");
  const auto small =
      estimate_or_fail(spec_for(ModelTask::generate, file, {{"context_size", 256}, {"parallel", 2}}));
  const auto large =
      estimate_or_fail(spec_for(ModelTask::generate, file, {{"context_size", 1024}, {"parallel", 2}}));
  EXPECT_EQ(large.weights, small.weights);
  EXPECT_GT(large.kv_cache, small.kv_cache);
  // The cache holds one cell per position of every slot: four times the context, four times the cache.
  EXPECT_EQ(large.kv_cache, 4 * small.kv_cache);
}

TEST(MemoryEstimate, MoreSlotsRaiseTheKvCache) {
  const auto file = test_model("generator");
  const auto two =
      estimate_or_fail(spec_for(ModelTask::generate, file, {{"context_size", 256}, {"parallel", 2}}));
  const auto four =
      estimate_or_fail(spec_for(ModelTask::generate, file, {{"context_size", 256}, {"parallel", 4}}));
  EXPECT_EQ(four.kv_cache, 2 * two.kv_cache);
}

class EstimateBadFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("xervo-estimate-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static Error estimate_error(ModelTask task, const fs::path& file) {
    auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
    auto r = provider->estimate(spec_for(task, file), LoadControl{});
    if (r.ok()) {
      ADD_FAILURE() << file << " was estimated at " << r->total() << " bytes";
      return Error(ErrorCode::internal, "estimated");
    }
    return r.error();
  }
  static void expect_error(const Error& e, ErrorCode code, const fs::path& file, const std::string& reason) {
    EXPECT_EQ(e.code(), code) << e.to_string();
    EXPECT_NE(e.message().find(file.string()), std::string::npos) << "no path in: " << e.message();
    EXPECT_NE(e.message().find(reason), std::string::npos) << "no '" << reason << "' in: " << e.message();
  }
  fs::path dir_;
};

TEST_F(EstimateBadFiles, MissingFileIsModelNotFound) {
  const auto p = dir_ / "nope.gguf";
  expect_error(estimate_error(ModelTask::generate, p), ErrorCode::model_not_found, p, "does not exist");
}

TEST_F(EstimateBadFiles, NotGgufIsModelLoadFailed) {
  const auto p = dir_ / "text.gguf";
  std::ofstream(p, std::ios::binary) << "this is a text file pretending to be a model\n";
  expect_error(estimate_error(ModelTask::embed, p), ErrorCode::model_load_failed, p, "not a GGUF file");
}

// A well-formed GGUF of a known architecture that lacks its hyperparameters passes the pre-load check
// and is refused by llama.cpp's own (metadata-only) load: the estimate says why.
TEST_F(EstimateBadFiles, HollowModelFailsInLlamaCleanly) {
  llamacpp::GgufPtr g(gguf_init_empty());
  gguf_set_val_str(g.get(), "general.architecture", "llama");
  ggml_init_params params{ggml_tensor_overhead() * 2 + 4096 + 64, nullptr, false};
  ggml_context* ctx = ggml_init(params);
  ggml_tensor* t = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, 1024);
  ggml_set_name(t, "token_embd.weight");
  gguf_add_tensor(g.get(), t);
  const auto p = dir_ / "hollow.gguf";
  ASSERT_TRUE(gguf_write_to_file(g.get(), p.c_str(), /*only_meta=*/false));
  ggml_free(ctx);
  expect_error(estimate_error(ModelTask::generate, p), ErrorCode::model_load_failed, p,
               "llama.context_length");
}

TEST_F(EstimateBadFiles, EncoderAskedToGenerateIsRefusedBeforeLlamaCppSeesIt) {
  const auto p = test_model("embedder");
  expect_error(estimate_error(ModelTask::generate, p), ErrorCode::model_load_failed, p, "cannot generate");
}

TEST(MemoryEstimate, AStoppedControlIsCancelled) {
  auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
  std::stop_source stop;
  stop.request_stop();
  LoadControl control;
  control.cancel = stop.get_token();
  auto r = provider->estimate(spec_for(ModelTask::generate, test_model("generator")), control);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::cancelled) << r.error().to_string();
}

}  // namespace
}  // namespace xervo::testing
