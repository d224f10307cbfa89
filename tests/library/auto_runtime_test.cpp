// `model = "auto"` through a real runtime: a catalog of generated models served by the stand-in Hub,
// the llama.cpp provider and the library resolver. The alias pulls the best model that fits the
// budget on first use, serves embeddings, and later runtimes use the library's copy.
#include <gtest/gtest.h>

#include <fstream>

#include "hub_server.h"
#include "library_fixture.h"
#include "test_models.h"
#include "xervo/config.h"
#include "xervo/providers.h"
#include "xervo/runtime.h"
#include "auto_test_catalog.h"

namespace xervo::testing {
namespace {

constexpr uint64_t MiB = 1024 * 1024;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class AutoRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    small = read_file(test_model("embedder", "tiny", "--seed 101"));
    big = read_file(test_model("embedder", "tiny", "--seed 102"));
    hub.add_file("TestOrg/Embed-Small-GGUF", "embed-small.Q8_0.gguf", small);
    hub.add_file("TestOrg/Embed-Big-GGUF", "embed-big.Q8_0.gguf", big);
    nlohmann::json catalog = {{"version", 1},
                              {"tasks",
                               {{"embed",
                                 {auto_entry("TestOrg/Embed-Small-GGUF", small.size(), 40 * MiB, 1, "mit"),
                                  auto_entry("TestOrg/Embed-Big-GGUF", big.size(), 400 * MiB, 2, "apache-2.0"),
                                  auto_entry("TestOrg/Embed-Huge-GGUF", 1000, 1ull << 39, 3, "mit")}}}}};
    std::ofstream(dir.path / "catalog.json") << catalog.dump();
    std::ofstream(dir.path / "xervo.toml")
        << "[library]\nhome = \"" << home.path.string() << "\"\nhub_endpoint = \"" << hub.endpoint()
        << "\"\nauto_catalog = \"catalog.json\"\n"
           "[models.\"embed/auto\"]\ntask = \"embed\"\nmodel = \"auto\"\n";
  }

  // A runtime as the command line builds it, with this memory budget.
  std::shared_ptr<ModelRuntime> runtime(uint64_t budget) {
    auto config = load_config_file(dir.path / "xervo.toml");
    EXPECT_TRUE(config.ok()) << config.error().to_string();
    AutoModelContext context;
    context.memory_budget = budget;
    RuntimeBuilder builder;
    builder.add_config(*config);
    builder.add_provider(make_llamacpp_provider(
        nlohmann::json::object(), make_library_resolver(config->library, config->path, context)));
    auto built = builder.build();
    EXPECT_TRUE(built.ok()) << built.error().to_string();
    return built.ok() ? *built : nullptr;
  }

  std::string library_repo_of(const std::string& id) {
    auto lib = open_test_library(home.path, hub.endpoint());
    auto m = lib->get(id);
    return m.ok() ? m->hub_repo : "";
  }

  FakeHub hub;
  TempDir home, dir;
  std::string small, big;
};

TEST_F(AutoRuntime, AliasPullsTheBestThatFitsOnFirstUseAndServes) {
  auto rt = runtime(1024 * MiB);
  ASSERT_TRUE(rt);
  auto embedder = rt->embedding("embed/auto");
  ASSERT_TRUE(embedder.ok()) << embedder.error().to_string();
  std::vector<std::string> texts = {"hello auto"};
  auto out = (*embedder)->embed(texts);
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  ASSERT_EQ(out->vectors.size(), 1u);
  EXPECT_GT(out->dimensions, 0);
  EXPECT_GT(hub.blob_requests.load(), 0) << "pulled on first use";
  auto lib = open_test_library(home.path, hub.endpoint());
  auto pulled = lib->find("hf:TestOrg/Embed-Big-GGUF:Q8_0");
  ASSERT_TRUE(pulled.ok()) << "the tier-2 model fits 1 GiB; the huge one does not";
  EXPECT_FALSE(lib->find("hf:TestOrg/Embed-Small-GGUF:Q8_0").ok()) << "only the chosen one is pulled";
  auto records = rt->models();
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.front().key.model, "auto:embed") << "the record says the model came from auto";
}

TEST_F(AutoRuntime, ALaterRuntimeUsesTheLibraryCopyAndASmallerBudgetTheSmallModel) {
  {
    auto rt = runtime(1024 * MiB);
    ASSERT_TRUE(rt->embedding("embed/auto").ok());
  }
  const int blobs = hub.blob_requests.load();
  {
    auto rt = runtime(1024 * MiB);
    auto again = rt->embedding("auto");  // ad hoc: the task comes from the call
    ASSERT_TRUE(again.ok()) << again.error().to_string();
    EXPECT_EQ(hub.blob_requests.load(), blobs) << "served from the library, nothing downloaded";
  }
  {
    auto rt = runtime(100 * MiB);
    auto small_one = rt->embedding("embed/auto");
    ASSERT_TRUE(small_one.ok()) << small_one.error().to_string();
    EXPECT_GT(hub.blob_requests.load(), blobs) << "the small model is pulled now";
    auto lib = open_test_library(home.path, hub.endpoint());
    EXPECT_TRUE(lib->find("hf:TestOrg/Embed-Small-GGUF:Q8_0").ok());
  }
}

TEST_F(AutoRuntime, NothingFitsIsInsufficientMemoryWithEveryReason) {
  auto rt = runtime(10 * MiB);
  auto embedder = rt->embedding("embed/auto");
  ASSERT_FALSE(embedder.ok());
  EXPECT_EQ(embedder.error().code(), ErrorCode::insufficient_memory) << embedder.error().to_string();
  for (const char* repo : {"Embed-Small-GGUF", "Embed-Big-GGUF", "Embed-Huge-GGUF"})
    EXPECT_NE(embedder.error().message().find(repo), std::string::npos) << embedder.error().message();
  EXPECT_NE(embedder.error().message().find("over the memory budget"), std::string::npos);
  EXPECT_EQ(hub.blob_requests.load(), 0);
  auto rerank = rt->reranker("auto");
  ASSERT_FALSE(rerank.ok());
  EXPECT_EQ(rerank.error().code(), ErrorCode::model_not_found) << rerank.error().to_string();
  EXPECT_NE(rerank.error().message().find("has no rerank models"), std::string::npos)
      << rerank.error().message();
}

TEST_F(AutoRuntime, AHostileCatalogFailsTheLoadWithItsError) {
  std::ofstream(dir.path / "catalog.json", std::ios::trunc) << R"({"version": 1, "tasks": {"embed": [
      {"model": "hf:../../x:Q8_0", "quantization": "Q8_0", "file_bytes": 1, "memory_bytes": 1, "tier": 1,
       "license": "mit"}]}})";
  auto rt = runtime(1024 * MiB);
  auto embedder = rt->embedding("embed/auto");
  ASSERT_FALSE(embedder.ok());
  EXPECT_EQ(embedder.error().code(), ErrorCode::config_invalid) << embedder.error().to_string();
  EXPECT_NE(embedder.error().message().find("tasks.embed[0].model"), std::string::npos)
      << embedder.error().message();
}

}  // namespace
}  // namespace xervo::testing
