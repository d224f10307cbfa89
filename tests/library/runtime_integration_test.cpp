// The library behind the runtime: "library:ID" aliases load through the llama.cpp provider via
// make_library_resolver, and a model whose requirements fail is refused as not_ready.
#include <gtest/gtest.h>

#include "gguf_writer.h"
#include "library_fixture.h"
#include "test_models.h"
#include "xervo/providers.h"
#include "xervo/runtime.h"

namespace xervo::testing {
namespace {

TEST(LibraryRuntime, LibraryIdsLoadThroughTheLlamaCppProvider) {
  TempDir home, src;
  auto lib = open_test_library(home.path);
  ASSERT_TRUE(lib);
  write_test_gguf(src.path / "alien.gguf", {.architecture = "nosucharch", .seed = 3});
  auto out = lib->import_paths({test_model("embedder", "tiny"), src.path / "alien.gguf"},
                               {.mode = ImportMode::copy});
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].model) << out[0].error->to_string();
  ASSERT_TRUE(out[1].model) << out[1].error->to_string();
  EXPECT_EQ(out[0].model->task, ModelTask::embed);

  RuntimeBuilder builder;
  builder.add_provider(make_llamacpp_provider(
      nlohmann::json::object(),
      make_library_resolver({{"home", home.path.string()}, {"hub_endpoint", "http://127.0.0.1:1"}})));
  auto runtime = builder.build();
  ASSERT_TRUE(runtime.ok()) << runtime.error().to_string();
  auto embedder = (*runtime)->embedding("library:" + out[0].model->id);
  ASSERT_TRUE(embedder.ok()) << embedder.error().to_string();
  std::vector<std::string> inputs = {"hello library"};
  auto vectors = (*embedder)->embed(inputs);
  ASSERT_TRUE(vectors.ok()) << vectors.error().to_string();
  ASSERT_EQ(vectors->vectors.size(), 1u);
  EXPECT_GT(vectors->dimensions, 0);

  auto alien = (*runtime)->embedding("library:" + out[1].model->id);
  ASSERT_FALSE(alien.ok());
  EXPECT_EQ(alien.error().code(), ErrorCode::not_ready) << alien.error().to_string();
  EXPECT_EQ((*runtime)->embedding("library:local/missing").error().code(), ErrorCode::model_not_found);
}

}  // namespace
}  // namespace xervo::testing
