// POST /v1/audio/transcriptions against an in-process server whose transcriber is a test double
// (it decodes the audio with the real decoder, then names each half second): the multipart form,
// every response_format, streamed segments, and the 4xx paths (no file, bad fields, undecodable
// audio, a body over max_upload_bytes).
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>

#include "core/audio_decode.h"
#include "xervo/runtime.h"
#include "xervo/server.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

class HalfSecondTranscriber final : public TranscriberModel {
 public:
  using TranscriberModel::transcribe;
  Result<Transcription> transcribe(const TranscribeRequest& request,
                                   const SegmentCallback& on_segment) override {
    auto audio = decode_audio(request.audio, 16000);
    if (!audio) return audio.error();
    Transcription t;
    t.language = request.language.empty() ? "en" : request.language;
    t.duration_s = audio->duration_s();
    const auto ms = static_cast<int64_t>(t.duration_s * 1000);
    for (int64_t at = 0, i = 1; at < ms; at += 500, ++i) {
      TranscriptSegment s{at, std::min(ms, at + 500), "part " + std::to_string(i)};
      if (on_segment && !on_segment(s)) return Error(ErrorCode::cancelled, "stopped");
      t.text += (t.text.empty() ? "" : " ") + s.text;
      t.segments.push_back(std::move(s));
    }
    if (!request.prompt.empty()) t.text += " [" + request.prompt + "]";
    t.usage.completion_tokens = static_cast<int64_t>(t.segments.size()) * 2;
    return t;
  }
};

class SpeechProvider final : public ModelProvider {
 public:
  std::string id() const override { return "speech"; }
  ProviderCapabilities capabilities() const override { return {{ModelTask::transcribe}, true, false}; }
  Result<LoadedModel> load(const ModelSpec&, const ProgressCallback&) override {
    LoadedModel m;
    m.transcriber = std::make_shared<HalfSecondTranscriber>();
    return m;
  }
};

// 16-bit mono PCM WAV of `seconds` of a 300 Hz tone at 16 kHz.
std::string wav_tone(double seconds) {
  const auto frames = static_cast<uint32_t>(seconds * 16000);
  std::string h;
  auto u32 = [&](uint32_t v) { h.append(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](uint16_t v) { h.append(reinterpret_cast<const char*>(&v), 2); };
  h += "RIFF";
  u32(36 + frames * 2);
  h += "WAVEfmt ";
  u32(16);
  u16(1);
  u16(1);
  u32(16000);
  u32(32000);
  u16(2);
  u16(16);
  h += "data";
  u32(frames * 2);
  for (uint32_t i = 0; i < frames; ++i)
    u16(static_cast<uint16_t>(static_cast<int16_t>(8000 * std::sin(i * 0.1178))));
  return h;
}

class TranscriptionRoutes : public ::testing::Test {
 protected:
  void start(size_t max_upload = 100u << 20) {
    RuntimeBuilder builder;
    builder.add_provider(std::make_shared<SpeechProvider>());
    ModelSpec spec;
    spec.alias = "stt/test";
    spec.task = ModelTask::transcribe;
    spec.provider = "speech";
    spec.model = "halves";
    builder.add_spec(spec);
    auto rt = builder.build();
    ASSERT_TRUE(rt.ok()) << rt.error().to_string();
    runtime = *rt;
    ServerOptions o;
    o.port = 0;
    o.threads = 4;
    o.max_upload_bytes = max_upload;
    auto s = Server::start(runtime, o);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    server = std::move(*s);
  }

  httplib::Result upload(httplib::MultipartFormDataItems items) {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(30, 0);
    return c.Post("/v1/audio/transcriptions", items);
  }

  static httplib::MultipartFormDataItems form(const std::string& audio, const std::string& format = "",
                                              const std::string& model = "stt/test") {
    httplib::MultipartFormDataItems items = {{"file", audio, "speech.wav", "audio/wav"},
                                             {"model", model, "", ""}};
    if (!format.empty()) items.push_back({"response_format", format, "", ""});
    return items;
  }

  static std::string error_message(const httplib::Result& r) {
    auto j = json::parse(r->body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"].value("message", "") : "";
  }

  std::shared_ptr<ModelRuntime> runtime;
  std::unique_ptr<Server> server;
};

TEST_F(TranscriptionRoutes, JsonIsTheDefaultAndCarriesTheText) {
  start();
  auto r = upload(form(wav_tone(1.2)));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["text"], "part 1 part 2 part 3");
  EXPECT_EQ(j["usage"]["output_tokens"], 6);
}

TEST_F(TranscriptionRoutes, EveryResponseFormat) {
  start();
  auto verbose = upload(form(wav_tone(1.2), "verbose_json"));
  ASSERT_TRUE(verbose);
  ASSERT_EQ(verbose->status, 200) << verbose->body;
  auto v = json::parse(verbose->body);
  EXPECT_EQ(v["language"], "en");
  EXPECT_NEAR(v["duration"].get<double>(), 1.2, 0.01);
  ASSERT_EQ(v["segments"].size(), 3u);
  EXPECT_EQ(v["segments"][2]["start"], 1.0);
  EXPECT_EQ(v["segments"][2]["end"], 1.2);

  auto text = upload(form(wav_tone(0.4), "text"));
  ASSERT_TRUE(text);
  EXPECT_EQ(text->body, "part 1\n");
  EXPECT_EQ(text->get_header_value("Content-Type").rfind("text/plain", 0), 0u);

  auto srt = upload(form(wav_tone(0.7), "srt"));
  ASSERT_TRUE(srt);
  EXPECT_EQ(srt->body,
            "1\n00:00:00,000 --> 00:00:00,500\npart 1\n\n2\n00:00:00,500 --> 00:00:00,700\npart 2\n\n");

  auto vtt = upload(form(wav_tone(0.4), "vtt"));
  ASSERT_TRUE(vtt);
  EXPECT_EQ(vtt->body, "WEBVTT\n\n00:00:00.000 --> 00:00:00.400\npart 1\n\n");
}

TEST_F(TranscriptionRoutes, LanguageAndPromptReachTheModel) {
  start();
  auto items = form(wav_tone(0.4), "verbose_json");
  items.push_back({"language", "de", "", ""});
  items.push_back({"prompt", "Glossar", "", ""});
  items.push_back({"timestamp_granularities[]", "segment", "", ""});
  auto r = upload(items);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["language"], "de");
  EXPECT_EQ(j["text"], "part 1 [Glossar]");
}

TEST_F(TranscriptionRoutes, StreamSendsOneDeltaPerSegmentThenDone) {
  start();
  auto items = form(wav_tone(1.2));
  items.push_back({"stream", "true", "", ""});
  auto r = upload(items);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  std::vector<json> events;
  for (size_t at = 0; (at = r->body.find("data: ", at)) != std::string::npos;) {
    size_t end = r->body.find("\n\n", at);
    std::string data = r->body.substr(at + 6, end - at - 6);
    if (data != "[DONE]") events.push_back(json::parse(data));
    at = end;
  }
  ASSERT_EQ(events.size(), 4u) << r->body;
  EXPECT_EQ(events[0]["type"], "transcript.text.delta");
  EXPECT_EQ(events[0]["delta"], "part 1");
  EXPECT_EQ(events[1]["delta"], " part 2");
  EXPECT_EQ(events[3]["type"], "transcript.text.done");
  EXPECT_EQ(events[3]["text"], "part 1 part 2 part 3");
  EXPECT_NE(r->body.find("data: [DONE]"), std::string::npos);
}

TEST_F(TranscriptionRoutes, BadFormsAreClear400s) {
  start();
  struct Case {
    httplib::MultipartFormDataItems items;
    std::string says;
  };
  std::vector<Case> cases = {
      {{{"model", "stt/test", "", ""}}, "no 'file' part"},
      {{{"file", wav_tone(0.2), "a.wav", ""}}, "no 'model'"},
      {form(wav_tone(0.2), "xml"), "response_format"},
      {form(""), "empty"},
      {form("this is not audio"), "cannot decode the audio"},
      {form(std::string(4096, '\x7f')), "cannot decode the audio"},
      {[] {
         auto f = form(wav_tone(0.2));
         f.push_back({"timestamp_granularities[]", "word", "", ""});
         return f;
       }(),
       "word"},
      {[] {
         auto f = form(wav_tone(0.2));
         f.push_back({"temperature", "hot", "", ""});
         return f;
       }(),
       "temperature"},
      {[] {
         auto f = form(wav_tone(0.2));
         f.push_back({"colour", "blue", "", ""});
         return f;
       }(),
       "unknown form field"},
  };
  for (const auto& c : cases) {
    auto r = upload(c.items);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << c.says << ": " << r->body;
    EXPECT_NE(error_message(r).find(c.says), std::string::npos) << c.says << ": " << r->body;
  }
  httplib::Client c("127.0.0.1", server->port());
  auto not_form = c.Post("/v1/audio/transcriptions", R"({"model":"stt/test"})", "application/json");
  ASSERT_TRUE(not_form);
  EXPECT_EQ(not_form->status, 400);
  EXPECT_NE(error_message(not_form).find("multipart/form-data"), std::string::npos);
}

TEST_F(TranscriptionRoutes, UnknownOrWrongTaskModels) {
  start();
  auto r = upload(form(wav_tone(0.2), "", "stt/nope"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(TranscriptionRoutes, UploadsOverTheLimitAre413) {
  start(64 * 1024);
  auto r = upload(form(wav_tone(4.0)));  // 128 KB of samples
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  auto ok = upload(form(wav_tone(0.5)));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

}  // namespace
}  // namespace xervo::testing
