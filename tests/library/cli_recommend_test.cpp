// `xervo models recommend` and `xervo embed -m auto` as a user runs them: the built binary, a home
// in a temporary folder, a catalog of generated models and the stand-in Hub.
#include <gtest/gtest.h>

#include <fstream>

#include "auto_test_catalog.h"
#include "hub_server.h"
#include "library_fixture.h"
#include "test_models.h"
#include "whisper_writer.h"

namespace xervo::testing {
namespace {
namespace fs = std::filesystem;

constexpr uint64_t MiB = 1024 * 1024;

class CliRecommend : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(test_model("embedder", "tiny", "--seed 111"), std::ios::binary);
    model = std::string(std::istreambuf_iterator<char>(in), {});
    hub.add_file("TestOrg/Embed-Small-GGUF", "embed-small.Q8_0.gguf", model);
    nlohmann::json catalog = {{"version", 1},
                              {"name", "test-catalog"},
                              {"tasks",
                               {{"embed",
                                 {auto_entry("TestOrg/Embed-Small-GGUF", model.size(), 40 * MiB, 1, "mit", FakeHub::sha256_hex(model)),
                                  auto_entry("TestOrg/Embed-Mid-GGUF", 1000, 400 * MiB, 2, "apache-2.0"),
                                  auto_entry("TestOrg/Embed-Huge-GGUF", 1000, 1ull << 39, 3, "mit")}}}}};
    std::ofstream(catalog_file) << catalog.dump();
    write_config("");
  }
  void write_config(const std::string& text) { std::ofstream(config, std::ios::trunc) << "# test\n" << text; }
  CommandResult xervo(std::vector<std::string> args, std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {"env", "XERVO_HOME=" + home.path.string(),
                                     "XERVO_CONFIG=" + config.string(), "HF_ENDPOINT=" + hub.endpoint()};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.push_back(XERVO_BIN);
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, std::chrono::seconds(120));
  }
  nlohmann::json recommend_json(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"models", "recommend", "--json", "--catalog", catalog_file.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = xervo(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j;
  }

  FakeHub hub;
  TempDir home, dir;
  fs::path config = dir.path / "xervo.toml";
  fs::path catalog_file = dir.path / "catalog.json";
  std::string model;
};

TEST_F(CliRecommend, JsonNamesTheChoiceAndWhyEveryOtherWasNot) {
  write_config("[runtime]\nmemory_budget = \"1GiB\"\n");
  auto j = recommend_json({"--task", "embed"});
  EXPECT_EQ(j["catalog"]["name"], "test-catalog");
  EXPECT_EQ(j["catalog"]["version"], 1);
  EXPECT_EQ(j["machine"]["memory_budget"], 1024 * MiB);
  ASSERT_EQ(j["tasks"].size(), 1u);
  const auto& t = j["tasks"][0];
  EXPECT_EQ(t["task"], "embed");
  EXPECT_EQ(t["choice"], "hf:TestOrg/Embed-Mid-GGUF:Q8_0");
  EXPECT_TRUE(t["in_library"].is_null());
  ASSERT_EQ(t["candidates"].size(), 3u);
  EXPECT_EQ(t["candidates"][0]["model"], "hf:TestOrg/Embed-Huge-GGUF:Q8_0");
  EXPECT_FALSE(t["candidates"][0]["fits"].get<bool>());
  EXPECT_NE(t["candidates"][0]["reason"].get<std::string>().find("over the memory budget of 1.0 GiB"),
            std::string::npos)
      << t["candidates"][0]["reason"];
  EXPECT_TRUE(t["candidates"][1]["chosen"].get<bool>());
  EXPECT_NE(t["candidates"][2]["reason"].get<std::string>().find("ranks higher"), std::string::npos);
  EXPECT_EQ(hub.blob_requests.load(), 0) << "recommend downloads nothing";

  write_config("[runtime]\nmemory_budget = \"100MiB\"\n");
  auto small = recommend_json({"--task", "embed"});
  EXPECT_EQ(small["tasks"][0]["choice"], "hf:TestOrg/Embed-Small-GGUF:Q8_0");
  auto all = recommend_json();
  ASSERT_EQ(all["tasks"].size(), 4u) << "every task without --task";
  EXPECT_TRUE(all["tasks"][1]["choice"].is_null()) << "no rerank models in this catalog";
}

TEST_F(CliRecommend, ImportedCopyIsShownAndTextSaysChosen) {
  fs::path file = dir.path / "mine.gguf";
  std::ofstream(file, std::ios::binary) << model;
  auto imported = xervo({"models", "import", "--copy", file.string()});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  write_config("[runtime]\nmemory_budget = \"100MiB\"\n");
  auto j = recommend_json({"--task", "embed"});
  EXPECT_EQ(j["tasks"][0]["in_library"], "local/mine") << j.dump(2);
  auto text = xervo({"models", "recommend", "--task", "embed", "--catalog", catalog_file.string()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("embed: hf:TestOrg/Embed-Small-GGUF:Q8_0 (in the library as local/mine)"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("chosen"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("rejected"), std::string::npos) << text.out;
}

TEST_F(CliRecommend, HostileCatalogsAreClearErrors) {
  auto bad = [&](const std::string& text, const std::string& word) {
    std::ofstream(catalog_file, std::ios::trunc) << text;
    auto r = xervo({"models", "recommend", "--catalog", catalog_file.string()});
    EXPECT_NE(r.exit_code, 0) << text;
    EXPECT_NE(r.err.find(word), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("terminate"), std::string::npos) << r.err;
  };
  bad("{\"version\": 1, \"tasks\": ", "not valid JSON");
  bad(R"({"version": 1, "tasks": {"embed": [{"model": "hf:a/../b:Q8_0"}]}})", "tasks.embed[0].model");
  bad(R"({"version": 1, "tasks": {"embed": [{"model": "hf:a/b:Q8_0", "quantization": "Q8_0", "file_bytes": -1,
        "memory_bytes": 10, "tier": 1, "license": "mit"}]}})",
      "tasks.embed[0].file_bytes");
  auto missing = xervo({"models", "recommend", "--catalog", (dir.path / "none.json").string()});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("none.json"), std::string::npos) << missing.err;
  auto env = xervo({"models", "recommend"}, {"XERVO_AUTO_CATALOG=" + (dir.path / "none.json").string()});
  EXPECT_NE(env.exit_code, 0) << "the environment's catalog is used, and checked";
  EXPECT_NE(env.err.find("none.json"), std::string::npos) << env.err;
}

TEST_F(CliRecommend, EmbedWithAutoPullsWithProgressThenEmbeds) {
  write_config("[runtime]\nmemory_budget = \"100MiB\"\n");
  auto r = xervo({"embed", "-m", "auto", "hello"},
                 {"XERVO_AUTO_CATALOG=" + catalog_file.string(), "XERVO_LOG=info"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("[", 0), 0u) << r.out;
  EXPECT_NE(r.err.find("auto: embed model hf:TestOrg/Embed-Small-GGUF:Q8_0"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("auto: pulling embed-small.Q8_0.gguf: 100%"), std::string::npos) << r.err;
  EXPECT_GT(hub.blob_requests.load(), 0);
  auto list = xervo({"models", "list"});
  EXPECT_NE(list.out.find("testorg/embed-small"), std::string::npos) << list.out;
}

TEST_F(CliRecommend, TheShippedCatalogListsWhisperModelsForTranscribe) {
  write_config("[runtime]\nmemory_budget = \"1GiB\"\n");
  auto r = xervo({"models", "recommend", "--json", "--task", "transcribe"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["catalog"]["source"], "built-in");
  ASSERT_EQ(j["tasks"].size(), 1u);
  EXPECT_EQ(j["tasks"][0]["task"], "transcribe");
  const auto& candidates = j["tasks"][0]["candidates"];
  ASSERT_GE(candidates.size(), 5u) << r.out;
  for (const auto& c : candidates) {
    EXPECT_EQ(c["model"].get<std::string>().rfind("hf:ggerganov/whisper.cpp:", 0), 0u) << c.dump();
    EXPECT_EQ(c["license"], "mit") << c.dump();
    EXPECT_TRUE(c["sizes_approximate"].get<bool>()) << c.dump();
  }
  auto text = xervo({"models", "recommend"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("\ntranscribe: "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("hf:ggerganov/whisper.cpp:tiny.en"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("no candidates in the catalog"), std::string::npos) << "every task has entries";
}

TEST_F(CliRecommend, ATranscribeEntryInTheLibraryIsChosen) {
  std::string whisper = whisper_bytes({.seed = 8});
  hub.add_file("ggerganov/whisper.cpp", "ggml-tiny.en.bin", whisper);
  nlohmann::json catalog = {{"version", 1},
                            {"tasks",
                             {{"transcribe",
                               {{{"model", "hf:ggerganov/whisper.cpp:tiny.en"},
                                 {"quantization", "F16"},
                                 {"file_bytes", whisper.size()},
                                 {"memory_bytes", 40 * MiB},
                                 {"tier", 1},
                                 {"license", "mit"}}}}}}};
  std::ofstream(catalog_file, std::ios::trunc) << catalog.dump();
  write_config("[runtime]\nmemory_budget = \"1GiB\"\n");
  auto before = recommend_json({"--task", "transcribe"});
  EXPECT_EQ(before["tasks"][0]["choice"], "hf:ggerganov/whisper.cpp:tiny.en") << before.dump(2);
  EXPECT_TRUE(before["tasks"][0]["in_library"].is_null());
  auto pull = xervo({"models", "pull", "hf:ggerganov/whisper.cpp:tiny.en"});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  auto after = recommend_json({"--task", "transcribe"});
  EXPECT_EQ(after["tasks"][0]["in_library"], "ggerganov/ggml-tiny.en") << after.dump(2);
}

}  // namespace
}  // namespace xervo::testing
