// End to end on the real binary and the packaged Whisper tiny.en model: `xervo serve` answers
// POST /v1/audio/transcriptions (curl's multipart upload) in json, verbose_json and srt, and
// `xervo transcribe FILE` prints the segments and the json result. Skips without the model or
// espeak-ng.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "process.h"
#include "test_models.h"

namespace xervo::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSentence = "My name is John and I live in London.";

class WhisperServe : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(XERVO_WHISPER_MODEL))
      GTEST_SKIP() << XERVO_WHISPER_MODEL << " missing (scripts/bootstrap)";
    if (std::string(XERVO_ESPEAK_NG).empty()) GTEST_SKIP() << "espeak-ng missing (scripts/bootstrap)";
    dir = fs::temp_directory_path() / ("xervo-whisper-serve-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    auto made = run_command({XERVO_ESPEAK_NG, "-s", "150", "-w", (dir / "speech.wav").string(), kSentence});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    std::ofstream(dir / "xervo.toml")
        << "[models.\"stt/tiny\"]\ntask = \"transcribe\"\nprovider = \"whisper\"\n"
        << "model = \"" << XERVO_WHISPER_MODEL << "\"\noptions = { threads = 2 }\n";
  }
  void TearDown() override {
    if (!dir.empty()) fs::remove_all(dir);
  }
  fs::path dir;
};

TEST_F(WhisperServe, TranscriptionsEndpointAndCli) {
  XervoServe server(XERVO_BINARY, dir / "xervo.toml", {}, std::chrono::seconds(120));
  auto curl = [&](const std::string& format) {
    return run_command({"curl", "-sS", "-F", "file=@" + (dir / "speech.wav").string(), "-F", "model=stt/tiny",
                        "-F", "response_format=" + format, server.url("/v1/audio/transcriptions")});
  };
  auto json_reply = curl("json");
  ASSERT_EQ(json_reply.exit_code, 0) << json_reply.err;
  auto j = nlohmann::json::parse(json_reply.out, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("text")) << json_reply.out << "\n" << server.log();
  const std::string text = j["text"];
  for (const char* w : {"name", "John", "live", "London"}) EXPECT_NE(text.find(w), std::string::npos) << text;

  auto verbose = nlohmann::json::parse(curl("verbose_json").out, nullptr, false);
  ASSERT_TRUE(verbose.is_object()) << server.log();
  EXPECT_EQ(verbose["language"], "en");
  EXPECT_GT(verbose["duration"].get<double>(), 1.0);
  ASSERT_FALSE(verbose["segments"].empty());
  EXPECT_LT(verbose["segments"][0]["start"].get<double>(), verbose["segments"][0]["end"].get<double>());

  auto srt = curl("srt");
  EXPECT_EQ(srt.out.rfind("1\n00:00:0", 0), 0u) << srt.out;
  EXPECT_NE(srt.out.find(" --> "), std::string::npos);

  auto garbage =
      run_command({"curl", "-sS", "-w", "\n%{http_code}", "-F", "file=@" + (dir / "xervo.toml").string(),
                   "-F", "model=stt/tiny", server.url("/v1/audio/transcriptions")});
  EXPECT_NE(garbage.out.find("cannot decode the audio"), std::string::npos) << garbage.out;
  EXPECT_TRUE(garbage.out.ends_with("400")) << garbage.out;
  server.terminate();

  auto cli = run_command({"env", "XERVO_HOME=" + (dir / "home").string(), XERVO_BINARY, "--config",
                          (dir / "xervo.toml").string(), "transcribe", "-m", "stt/tiny",
                          (dir / "speech.wav").string()});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(cli.out.rfind("[00:00:0", 0), 0u) << cli.out;
  EXPECT_NE(cli.out.find("London"), std::string::npos) << cli.out;
  auto cli_json =
      run_command({"env", "XERVO_HOME=" + (dir / "home").string(), XERVO_BINARY, "transcribe", "-m",
                   XERVO_WHISPER_MODEL, "-f", "verbose_json", (dir / "speech.wav").string()});
  ASSERT_EQ(cli_json.exit_code, 0) << cli_json.err;
  auto cj = nlohmann::json::parse(cli_json.out, nullptr, false);
  ASSERT_TRUE(cj.is_object()) << cli_json.out;
  EXPECT_NE(cj["text"].get<std::string>().find("London"), std::string::npos);
}

}  // namespace
}  // namespace xervo::testing
