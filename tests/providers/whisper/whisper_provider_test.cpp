// The whisper provider on whisper.cpp (built against llama.cpp's ggml): hostile model files are
// refused before whisper.cpp reads them; the packaged Whisper tiny.en model transcribes speech that
// espeak-ng makes from known sentences (WAV, FLAC and MP3), streams its segments in order with
// timestamps, stops when cancelled, and loads through the runtime from a plain path.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "xervo/providers.h"
#include "xervo/runtime.h"

namespace xervo {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSentence =
    "Please open the window and close the door. My name is John and I live in London.";

fs::path temp_dir() {
  auto dir = fs::temp_directory_path() / ("xervo-whisper-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

// Lowercase words without punctuation.
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

ModelSpec whisper_spec(const fs::path& model) {
  ModelSpec spec;
  spec.alias = "stt";
  spec.task = ModelTask::transcribe;
  spec.provider = "whisper";
  spec.model = model.string();
  spec.options = {{"threads", 2}};
  return spec;
}

TEST(WhisperProvider, HostileModelFilesAreRefusedWithAReason) {
  auto dir = temp_dir();
  auto provider = make_whisper_provider(nlohmann::json::object(), nullptr);
  std::string header;
  auto i32 = [&](int32_t v) { header.append(reinterpret_cast<const char*>(&v), 4); };
  i32(0x67676d6c);
  for (int32_t v : {51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1}) i32(v);
  std::string huge_vocab = header;
  huge_vocab.replace(4, 4, std::string("\xff\xff\xff\x7f", 4));
  std::string cut_vocab = header;
  {
    std::string filters;
    int32_t dims[2] = {80, 201};
    filters.append(reinterpret_cast<const char*>(dims), 8);
    filters.append(80 * 201 * 4, '\0');
    int32_t n = 50256, len = 1 << 30;
    filters.append(reinterpret_cast<const char*>(&n), 4);
    filters.append(reinterpret_cast<const char*>(&len), 4);
    cut_vocab += filters + "abc";
  }
  struct Case {
    std::string name, bytes, says;
  };
  for (const Case& c :
       {Case{"empty.bin", "", "shorter than a model header"},
        Case{"text.bin", std::string(100, 'x'), "wrong magic"}, Case{"header.bin", header, "truncated"},
        Case{"vocab.bin", huge_vocab, "vocabulary size"}, Case{"cut.bin", cut_vocab, "token 0"}}) {
    write_file(dir / c.name, c.bytes);
    auto r = provider->load(whisper_spec(dir / c.name), {});
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.error().code(), ErrorCode::model_load_failed) << c.name;
    EXPECT_NE(r.error().message().find(c.says), std::string::npos) << c.name << ": " << r.error().message();
  }
  auto missing = provider->load(whisper_spec(dir / "missing.bin"), {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::model_not_found);
  auto spec = whisper_spec(dir / "text.bin");
  spec.task = ModelTask::generate;
  EXPECT_EQ(provider->load(spec, {}).error().code(), ErrorCode::capability_mismatch);
  fs::remove_all(dir);
}

class WhisperRealModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(XERVO_WHISPER_MODEL) || std::string(XERVO_ESPEAK_NG).empty()) return;
    dir_ = new fs::path(temp_dir());
    const auto wav = *dir_ / "speech.wav";
    std::string cmd = std::string(XERVO_ESPEAK_NG) + " -s 150 -w " + wav.string() + " \"" + kSentence + "\"";
    if (std::system(cmd.c_str()) != 0) return;
    speech_ = new std::string(read_file(wav));
    auto provider = make_whisper_provider(nlohmann::json::object(), nullptr);
    auto loaded = provider->load(whisper_spec(XERVO_WHISPER_MODEL), {});
    if (loaded.ok()) model_ = new std::shared_ptr<TranscriberModel>(loaded->transcriber);
  }
  static void TearDownTestSuite() {
    delete model_;
    delete speech_;
    if (dir_) fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    if (!fs::exists(XERVO_WHISPER_MODEL))
      GTEST_SKIP() << XERVO_WHISPER_MODEL
                   << " missing: scripts/bootstrap installs it (the quality test waits)";
    if (std::string(XERVO_ESPEAK_NG).empty())
      GTEST_SKIP() << "espeak-ng missing (scripts/bootstrap installs it)";
    ASSERT_TRUE(speech_) << "espeak-ng could not make the speech";
    ASSERT_TRUE(model_) << "the packaged model did not load";
  }

  // The speech re-encoded by libsndfile in `format`.
  static std::string reencoded(int format) {
    SF_INFO in_info{};
    auto wav = *dir_ / "speech.wav";
    SNDFILE* in = sf_open(wav.c_str(), SFM_READ, &in_info);
    std::vector<float> samples(static_cast<size_t>(in_info.frames) * in_info.channels);
    sf_readf_float(in, samples.data(), in_info.frames);
    sf_close(in);
    SF_INFO out_info{};
    out_info.samplerate = in_info.samplerate;
    out_info.channels = in_info.channels;
    out_info.format = format;
    auto path = *dir_ / ("speech." + std::to_string(format));
    SNDFILE* out = sf_open(path.c_str(), SFM_WRITE, &out_info);
    EXPECT_NE(out, nullptr) << sf_strerror(nullptr);
    if (!out) return {};
    sf_writef_float(out, samples.data(), in_info.frames);
    sf_close(out);
    return read_file(path);
  }

  static void expect_sentence(const Transcription& t) {
    auto heard = words(t.text);
    for (const auto& w : words(kSentence))
      EXPECT_NE(std::find(heard.begin(), heard.end(), w), heard.end())
          << "'" << w << "' missing from: " << t.text;
  }

  static inline fs::path* dir_ = nullptr;
  static inline std::string* speech_ = nullptr;
  static inline std::shared_ptr<TranscriberModel>* model_ = nullptr;
};

TEST_F(WhisperRealModel, TranscribesTheSpokenSentence) {
  TranscribeRequest request;
  request.audio = *speech_;
  std::vector<TranscriptSegment> streamed;
  auto r = (*model_)->transcribe(request, [&](const TranscriptSegment& s) {
    streamed.push_back(s);
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  expect_sentence(*r);
  EXPECT_EQ(r->language, "en");
  EXPECT_NEAR(r->duration_s, 5.7, 1.0);
  EXPECT_GT(r->usage.completion_tokens, 10);
  ASSERT_FALSE(r->segments.empty());
  ASSERT_EQ(streamed.size(), r->segments.size());
  int64_t last_end = 0;
  for (size_t i = 0; i < streamed.size(); ++i) {
    EXPECT_EQ(streamed[i].text, r->segments[i].text);
    EXPECT_GE(streamed[i].start_ms, last_end - 10);
    EXPECT_GT(streamed[i].end_ms, streamed[i].start_ms);
    EXPECT_LE(streamed[i].end_ms, static_cast<int64_t>(r->duration_s * 1000) + 100);
    last_end = streamed[i].end_ms;
  }
}

TEST_F(WhisperRealModel, FlacAndMp3OfTheSameSpeech) {
  for (int format : {SF_FORMAT_FLAC | SF_FORMAT_PCM_16, SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III}) {
    TranscribeRequest request;
    request.audio = reencoded(format);
    ASSERT_FALSE(request.audio.empty());
    auto r = (*model_)->transcribe(request);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    expect_sentence(*r);
  }
}

TEST_F(WhisperRealModel, CancelledBeforeOrFromTheCallback) {
  TranscribeRequest request;
  request.audio = *speech_;
  std::stop_source stop;
  stop.request_stop();
  request.cancel = stop.get_token();
  auto before = (*model_)->transcribe(request);
  ASSERT_FALSE(before.ok());
  EXPECT_EQ(before.error().code(), ErrorCode::cancelled);

  request.cancel = {};
  auto refused = (*model_)->transcribe(request, [](const TranscriptSegment&) { return false; });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::cancelled);
}

TEST_F(WhisperRealModel, AnEnglishOnlyModelRefusesOtherLanguages) {
  TranscribeRequest request;
  request.audio = *speech_;
  request.language = "de";
  auto r = (*model_)->transcribe(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::invalid_input);
  request.language = "xx-nonsense";
  EXPECT_EQ((*model_)->transcribe(request).error().code(), ErrorCode::invalid_input);
}

TEST_F(WhisperRealModel, ThroughTheRuntimeFromAPlainPath) {
  RuntimeBuilder builder;
  add_builtin_providers(builder);
  auto runtime = builder.build();
  ASSERT_TRUE(runtime.ok()) << runtime.error().to_string();
  auto handle = (*runtime)->transcriber(XERVO_WHISPER_MODEL);
  ASSERT_TRUE(handle.ok()) << handle.error().to_string();
  TranscribeRequest request;
  request.audio = *speech_;
  auto r = (*handle)->transcribe(request);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  expect_sentence(*r);
  EXPECT_EQ(r->served_by, XERVO_WHISPER_MODEL);
  auto records = (*runtime)->models();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].task, ModelTask::transcribe);
  EXPECT_EQ(records[0].key.provider, "whisper");
  EXPECT_GT(records[0].memory_bytes, 70u << 20);
  // The garbage the server might be sent is a clear error, not a crash.
  request.audio = "garbage";
  auto bad = (*handle)->transcribe(request);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::invalid_input);
}

}  // namespace
}  // namespace xervo
