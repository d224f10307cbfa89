// `model = "auto"` for the transcribe task through a real runtime: the stand-in Hub serves the
// packaged Whisper tiny.en file as whisper.cpp's repository does (ggml-tiny.en.bin), a catalog names
// it as hf:ggerganov/whisper.cpp:tiny.en, and an alias with provider = "whisper" pulls it on first
// use and transcribes speech espeak-ng makes from a known sentence. Skipped when bootstrap could not
// install the model or espeak-ng.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "hub_server.h"
#include "library_fixture.h"
#include "whisper_writer.h"
#include "xervo/config.h"
#include "xervo/providers.h"
#include "xervo/runtime.h"

namespace xervo::testing {
namespace {
namespace fs = std::filesystem;

constexpr uint64_t MiB = 1024 * 1024;
constexpr const char* kSentence = "Please open the window and close the door.";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::string w;
  for (char c : text + " ") {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      w.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else if (!w.empty()) {
      out.push_back(w);
      w.clear();
    }
  }
  return out;
}

class AutoTranscribe : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path packaged = packaged_whisper_model();
    if (packaged.empty())
      GTEST_SKIP() << "the packaged whisper-tiny.en.bin is not installed (scripts/bootstrap)";
    if (std::string(XERVO_ESPEAK_NG).empty())
      GTEST_SKIP() << "espeak-ng missing (scripts/bootstrap installs it)";
    const fs::path wav = dir.path / "speech.wav";
    const std::string cmd =
        std::string(XERVO_ESPEAK_NG) + " -s 150 -w " + wav.string() + " \"" + kSentence + "\"";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    speech = read_file(wav);
    model = read_file(packaged);
    hub.add_file("ggerganov/whisper.cpp", "ggml-tiny.en.bin", model);
    nlohmann::json catalog = {{"version", 1},
                              {"tasks",
                               {{"transcribe",
                                 {{{"model", "hf:ggerganov/whisper.cpp:tiny.en"},
                                   {"quantization", "F16"},
                                   {"file_bytes", model.size()},
                                   {"memory_bytes", 300 * MiB},
                                   {"tier", 1},
                                   {"license", "mit"}},
                                  {{"model", "hf:ggerganov/whisper.cpp:large-v3"},
                                   {"quantization", "F16"},
                                   {"file_bytes", 3000 * MiB},
                                   {"memory_bytes", 1ull << 39},
                                   {"tier", 9},
                                   {"license", "mit"}}}}}}};
    std::ofstream(dir.path / "catalog.json") << catalog.dump();
    std::ofstream(dir.path / "xervo.toml")
        << "[library]\nhome = \"" << home.path.string() << "\"\nhub_endpoint = \"" << hub.endpoint()
        << "\"\nauto_catalog = \"catalog.json\"\n"
           "[models.\"stt/auto\"]\ntask = \"transcribe\"\nprovider = \"whisper\"\nmodel = \"auto\"\n"
           "options = { threads = 2 }\n";
  }

  std::shared_ptr<ModelRuntime> runtime(uint64_t budget) {
    auto config = load_config_file(dir.path / "xervo.toml");
    EXPECT_TRUE(config.ok()) << config.error().to_string();
    if (!config.ok()) return nullptr;
    AutoModelContext context;
    context.memory_budget = budget;
    RuntimeBuilder builder;
    builder.add_config(*config);
    builder.add_provider(make_whisper_provider(
        nlohmann::json::object(), make_library_resolver(config->library, config->path, context)));
    auto built = builder.build();
    EXPECT_TRUE(built.ok()) << built.error().to_string();
    return built.ok() ? *built : nullptr;
  }

  void expect_sentence(const Transcription& t) {
    auto heard = words(t.text);
    for (const auto& w : words(kSentence))
      EXPECT_NE(std::find(heard.begin(), heard.end(), w), heard.end())
          << "'" << w << "' missing from: " << t.text;
  }

  FakeHub hub;
  TempDir home, dir;
  std::string model, speech;
};

TEST_F(AutoTranscribe, AnAutoAliasPullsTheWhisperFileAndTranscribes) {
  auto rt = runtime(1024 * MiB);
  ASSERT_TRUE(rt);
  auto stt = rt->transcriber("stt/auto");
  ASSERT_TRUE(stt.ok()) << stt.error().to_string();
  TranscribeRequest request;
  request.audio = speech;
  auto t = (*stt)->transcribe(request);
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  expect_sentence(*t);
  EXPECT_GT(hub.blob_requests.load(), 0) << "pulled on first use";
  auto lib = open_test_library(home.path, hub.endpoint());
  auto pulled = lib->find("hf:ggerganov/whisper.cpp:tiny.en");
  ASSERT_TRUE(pulled.ok()) << pulled.error().to_string();
  EXPECT_EQ(pulled->architecture, "whisper");
  EXPECT_EQ(pulled->sha256, FakeHub::sha256_hex(model));
  auto records = rt->models();
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.front().key.model, "auto:transcribe") << "the record says the model came from auto";
}

TEST_F(AutoTranscribe, AdHocAutoAndTheLibraryIdUseTheLibraryCopy) {
  {
    auto rt = runtime(1024 * MiB);
    ASSERT_TRUE(rt->transcriber("stt/auto").ok());
  }
  const int blobs = hub.blob_requests.load();
  auto rt = runtime(1024 * MiB);
  for (const char* name : {"auto", "library:ggerganov/ggml-tiny.en"}) {
    auto stt = rt->transcriber(name);  // ad hoc: the task comes from the call, the provider is whisper
    ASSERT_TRUE(stt.ok()) << name << ": " << stt.error().to_string();
    TranscribeRequest request;
    request.audio = speech;
    auto t = (*stt)->transcribe(request);
    ASSERT_TRUE(t.ok()) << name << ": " << t.error().to_string();
    expect_sentence(*t);
  }
  EXPECT_EQ(hub.blob_requests.load(), blobs) << "served from the library, nothing downloaded";
}

}  // namespace
}  // namespace xervo::testing
