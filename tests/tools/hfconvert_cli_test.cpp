// `xervo models convert` and `xervo models import` of a checkpoint folder, as a user runs them:
// the built binary, a temporary home, a tiny checkpoint written by the test.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "hf_checkpoint_writer.h"
#include "test_models.h"

namespace xervo::testing {
namespace {

namespace fs = std::filesystem;

class HfConvertCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("xervo-hfconvert-cli-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "home");
    std::ofstream(dir_ / "xervo.toml") << "# no settings\n";
    write_checkpoint(make_tiny_bert(4), dir_ / "tiny-minilm");
  }
  void TearDown() override { fs::remove_all(dir_); }
  CommandResult xervo(std::vector<std::string> args) {
    std::vector<std::string> argv = {"env", "XERVO_HOME=" + (dir_ / "home").string(),
                                     "XERVO_CONFIG=" + (dir_ / "xervo.toml").string(), XERVO_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, std::chrono::seconds(120));
  }
  fs::path dir_;
};

TEST_F(HfConvertCli, ConvertWritesAGgufAndReportsWhatItRead) {
  auto r = xervo({"models", "convert", (dir_ / "tiny-minilm").string(), "-o", (dir_ / "m.gguf").string(),
                  "--type", "q8_0", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["task"], "embed");
  EXPECT_EQ(j["pooling"], "mean");
  EXPECT_EQ(j["normalize"], true);
  EXPECT_EQ(j["layers"], 2);
  EXPECT_TRUE(fs::exists(dir_ / "m.gguf"));
}

TEST_F(HfConvertCli, ConvertRefusesAPickleWithOneClearLine) {
  fs::remove(dir_ / "tiny-minilm" / "model.safetensors");
  std::ofstream(dir_ / "tiny-minilm" / "pytorch_model.bin") << "cos\nsystem\n(S'true'\ntR.";
  auto r = xervo({"models", "convert", (dir_ / "tiny-minilm").string(), "-o", (dir_ / "m.gguf").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("PyTorch pickle"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "m.gguf"));
}

TEST_F(HfConvertCli, ConvertRefusesAnUnknownType) {
  auto r = xervo({"models", "convert", (dir_ / "tiny-minilm").string(), "-o", (dir_ / "m.gguf").string(),
                  "--type", "q4_0"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("f32, f16 or q8_0"), std::string::npos) << r.err;
}

TEST_F(HfConvertCli, ImportOfACheckpointFolderConvertsItAndKeepsTheFolder) {
  auto r = xervo({"models", "import", (dir_ / "tiny-minilm").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("imported " + (dir_ / "tiny-minilm").string() + " -> local/tiny-minilm"),
            std::string::npos)
      << r.out;
  auto list = xervo({"models", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto j = nlohmann::json::parse(list.out);
  ASSERT_EQ(j.size(), 1u) << list.out;
  EXPECT_EQ(j[0]["architecture"], "bert") << list.out;
  EXPECT_EQ(j[0]["task"], "embed") << list.out;
  EXPECT_TRUE(fs::exists(dir_ / "tiny-minilm" / "model.safetensors"));  // the checkpoint is untouched
}

}  // namespace
}  // namespace xervo::testing
