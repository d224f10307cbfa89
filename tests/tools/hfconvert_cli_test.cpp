// `xervo models convert` and `xervo models import` of a checkpoint folder, as a user runs them:
// the built binary, a temporary home, a tiny checkpoint written by the test.
#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <map>
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

// What sha256sum says of a file.
std::string sha256_of(const fs::path& file) {
  auto r = run_command({"sha256sum", file.string()}, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out.substr(0, 64);
}

TEST_F(HfConvertCli, ImportOfACheckpointFolderRecordsItsSourcesAndTheConversion) {
  const auto before = static_cast<int64_t>(std::time(nullptr));
  auto r = xervo({"models", "import", (dir_ / "tiny-minilm").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto after = static_cast<int64_t>(std::time(nullptr));
  auto check = [&](const std::string& when) {
    auto show = xervo({"models", "show", "local/tiny-minilm", "--json"});
    ASSERT_EQ(show.exit_code, 0) << show.err;
    auto j = nlohmann::json::parse(show.out);
    ASSERT_TRUE(j.contains("conversion")) << when << ": " << show.out;
    const auto& c = j["conversion"];
    EXPECT_NE(c["tool"].get<std::string>().find("xervo models convert"), std::string::npos) << c;
    EXPECT_EQ(c["output_type"], "f16") << c;
    EXPECT_EQ(c["checkpoint"], (dir_ / "tiny-minilm").string()) << c;
    EXPECT_EQ(j["source"]["path"], (dir_ / "tiny-minilm").string()) << when << ": " << show.out;
    EXPECT_GE(c["converted_at"].get<int64_t>(), before) << c;
    EXPECT_LE(c["converted_at"].get<int64_t>(), after) << c;
    std::map<std::string, std::string> sources;
    for (const auto& s : c["sources"]) sources[s["path"]] = s["sha256"];
    for (const char* file : {"config.json", "model.safetensors", "vocab.txt", "modules.json"}) {
      ASSERT_TRUE(sources.count(file)) << when << ": " << file << " not recorded: " << c;
      EXPECT_EQ(sources[file], sha256_of(dir_ / "tiny-minilm" / file)) << when << ": " << file;
    }
  };
  check("after import");
  auto text = xervo({"models", "show", "local/tiny-minilm"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find(sha256_of(dir_ / "tiny-minilm" / "model.safetensors") + "  model.safetensors"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("conversion.date"), std::string::npos) << text.out;

  fs::remove(dir_ / "home" / "models.db");
  auto reindex = xervo({"models", "reindex"});
  ASSERT_EQ(reindex.exit_code, 0) << reindex.err;
  check("after reindex");
}

}  // namespace
}  // namespace xervo::testing
