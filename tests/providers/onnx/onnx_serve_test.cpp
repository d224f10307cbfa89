// An `embed/onnx` alias with provider onnx in xervo.toml, served by the real `xervo serve` on
// /v1/embeddings (OpenAI's shape), on the packaged int8 all-MiniLM-L6-v2. Skips without ONNX
// Runtime or the model.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "onnx_test_support.h"
#include "process.h"
#include "test_models.h"

namespace xervo::testing {
namespace {

namespace fs = std::filesystem;

TEST(OnnxServe, EmbeddingsEndpointServesAnOnnxAlias) {
  SKIP_WITHOUT_ORT();
  const fs::path model = real_models_dir() / "all-MiniLM-L6-v2-onnx";
  SKIP_WITHOUT_MODEL(model / "model.onnx");
  const fs::path dir = fs::temp_directory_path() / ("xervo-onnx-serve-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "xervo.toml")
      << "[models.\"embed/onnx\"]\ntask = \"embed\"\nprovider = \"onnx\"\nmodel = \"" << model.string()
      << "\"\nwarmup = \"eager\"\noptions = { threads = 2 }\n";
  ChildProcess server({"env", "XERVO_HOME=" + (dir / "home").string(), XERVO_BINARY, "--config",
                       (dir / "xervo.toml").string(), "serve", "--port", "0"});
  auto port = server.wait_for_listening_port(std::chrono::seconds(120));
  ASSERT_TRUE(port) << server.log();
  const nlohmann::json body = {
      {"model", "embed/onnx"},
      {"input", {"A man is playing a guitar.", "A man plays the guitar.", "Penguins."}}};
  auto r = run_command({"curl", "-sS", "-X", "POST", "-H", "Content-Type: application/json", "-d",
                        body.dump(), "http://127.0.0.1:" + std::to_string(*port) + "/v1/embeddings"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("data")) << r.out.substr(0, 400) << "\n" << server.log();
  ASSERT_EQ(j["data"].size(), 3u);
  EXPECT_EQ(j["model"], "embed/onnx");
  std::vector<std::vector<float>> v;
  for (const auto& d : j["data"]) v.push_back(d["embedding"].get<std::vector<float>>());
  ASSERT_EQ(v[0].size(), 384u);
  auto dot = [](const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
  };
  EXPECT_NEAR(dot(v[0], v[0]), 1.0, 1e-4);  // normalized, as the folder's Normalize module says
  EXPECT_GT(dot(v[0], v[1]), 0.8);          // paraphrases
  EXPECT_LT(dot(v[0], v[2]), 0.3);
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 10);
  server.stop();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace xervo::testing
