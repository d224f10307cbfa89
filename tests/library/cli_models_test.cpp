// `xervo models` as a user runs it: the built binary against a home in a temporary folder and the
// fake Hub. What only the command line does: exit codes, messages, progress on a pipe.
#include <gtest/gtest.h>

#include <fstream>

#include "gguf_writer.h"
#include "hub_server.h"
#include "library_fixture.h"
#include "test_models.h"
#include "whisper_writer.h"

namespace xervo::testing {
namespace {
namespace fs = std::filesystem;

class CliModels : public ::testing::Test {
 protected:
  void SetUp() override { std::ofstream(config) << "# no settings\n"; }
  // Runs `xervo ARGS...` with this test's home, config and Hub; stderr is a pipe, not a terminal.
  CommandResult xervo(std::vector<std::string> args) {
    std::vector<std::string> argv = {"env", "XERVO_HOME=" + home.path.string(),
                                     "XERVO_CONFIG=" + config.string(), "HF_ENDPOINT=" + hub.endpoint(),
                                     XERVO_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, std::chrono::seconds(120));
  }

  FakeHub hub;
  TempDir home, src;
  fs::path config = src.path / "xervo.toml";
};

TEST_F(CliModels, EmptiedIndexFailsListAndReindexRestoresIt) {
  write_test_gguf(src.path / "kept.gguf", {.seed = 5});
  auto imported = xervo({"models", "import", "--copy", (src.path / "kept.gguf").string()});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  fs::resize_file(home.path / "models.db", 0);
  auto list = xervo({"models", "list"});
  EXPECT_NE(list.exit_code, 0) << "not 'no models': " << list.out;
  EXPECT_NE(list.err.find("xervo models reindex"), std::string::npos) << list.err;
  auto reindex = xervo({"models", "reindex"});
  ASSERT_EQ(reindex.exit_code, 0) << reindex.err;
  EXPECT_NE(reindex.out.find("reindexed 1 model"), std::string::npos) << reindex.out;
  auto again = xervo({"models", "list"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("local/kept"), std::string::npos) << again.out;
}

TEST_F(CliModels, PullPrintsPlainProgressLinesOnAPipe) {
  TempDir d;
  write_test_gguf(d.path / "f.gguf", {.seed = 9, .elements = 200000});
  std::ifstream in(d.path / "f.gguf", std::ios::binary);
  hub.add_file("TheOrg/Tiny-GGUF", "tiny.Q4_K_M.gguf", std::string(std::istreambuf_iterator<char>(in), {}));
  auto pull = xervo({"models", "pull", "hf:TheOrg/Tiny-GGUF"});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  EXPECT_EQ(pull.err.find('\r'), std::string::npos) << "no bar redrawn in place on a pipe";
  std::vector<int> percents;
  size_t pos = 0;
  while ((pos = pull.err.find("pull tiny.Q4_K_M.gguf: ", pos)) != std::string::npos) {
    pos += 23;
    percents.push_back(std::stoi(pull.err.substr(pos)));
  }
  ASSERT_FALSE(percents.empty()) << pull.err;
  EXPECT_EQ(percents.back(), 100) << pull.err;
  EXPECT_TRUE(std::is_sorted(percents.begin(), percents.end())) << pull.err;
  EXPECT_NE(pull.out.find("theorg/tiny.q4_k_m ready"), std::string::npos) << pull.out;
}

TEST_F(CliModels, UnknownLibraryKeyInTheConfigNamesFileLineAndKey) {
  std::ofstream(config) << "[library]\nparallel_downlods = 2\n";
  auto list = xervo({"models", "list"});
  EXPECT_NE(list.exit_code, 0);
  EXPECT_NE(list.err.find(config.string() + ":2: library.parallel_downlods: unknown key"), std::string::npos)
      << list.err;
}

}  // namespace
}  // namespace xervo::testing

namespace xervo::testing {
namespace {

TEST_F(CliModels, TheIdModelsListPrintsWorksAsDashM) {
  fs::copy_file(test_model("embedder"), src.path / "tiny-embed.gguf");
  auto imported = xervo({"models", "import", "--copy", (src.path / "tiny-embed.gguf").string()});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  auto list = xervo({"models", "list"});
  ASSERT_NE(list.out.find("local/tiny-embed"), std::string::npos) << list.out;
  auto embed = xervo({"embed", "--json", "-m", "local/tiny-embed", "hello"});
  EXPECT_EQ(embed.exit_code, 0) << embed.err;
  EXPECT_NE(embed.out.find('['), std::string::npos) << embed.out;
  // A name that is neither an alias nor in the library still says so.
  auto missing = xervo({"embed", "-m", "local/not-there", "hello"});
  EXPECT_NE(missing.exit_code, 0);
}

TEST_F(CliModels, AWhisperFileIsImportedListedShownAndPulledByModelName) {
  write_whisper_file(src.path / "ggml-tiny.en.bin");
  auto imported = xervo({"models", "import", "--copy", (src.path / "ggml-tiny.en.bin").string()});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  auto list = xervo({"models", "list", "--task", "transcribe"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  for (const char* word : {"local/ggml-tiny.en", "transcribe", "whisper", "F16"})
    EXPECT_NE(list.out.find(word), std::string::npos) << word << " missing from: " << list.out;
  auto show = xervo({"models", "show", "local/ggml-tiny.en"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("ggml-tiny.en.bin"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("English-only"), std::string::npos) << show.out;
  auto search = xervo({"models", "search", "english"});
  EXPECT_NE(search.out.find("local/ggml-tiny.en"), std::string::npos) << search.out;
  // A damaged one is refused with the reason, and the command fails.
  write_whisper_file(src.path / "ggml-bad.bin", {.n_text_layer = 1 << 30});
  auto bad = xervo({"models", "import", (src.path / "ggml-bad.bin").string()});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE((bad.out + bad.err).find("layer counts"), std::string::npos) << bad.out << bad.err;
  EXPECT_EQ(bad.err.find("terminate"), std::string::npos) << bad.err;
  // whisper.cpp's repository layout on the stand-in Hub: hf:ORG/REPO:MODEL pulls ggml-MODEL.bin.
  hub.add_file("ggerganov/whisper.cpp", "ggml-base.en.bin", whisper_bytes({.seed = 4}));
  auto pull = xervo({"models", "pull", "hf:ggerganov/whisper.cpp:base.en"});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  auto pulled = xervo({"models", "show", "hf:ggerganov/whisper.cpp:base.en", "--json"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  auto j = nlohmann::json::parse(pulled.out, nullptr, false);
  EXPECT_EQ(j["task"], "transcribe") << pulled.out;
  EXPECT_EQ(j["source"]["hub_file"], "ggml-base.en.bin") << pulled.out;
}

}  // namespace
}  // namespace xervo::testing
