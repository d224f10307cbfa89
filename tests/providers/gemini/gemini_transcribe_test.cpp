// The gemini provider's transcribe task against an in-process server speaking Gemini's wire format:
// the audio goes inline as base64 with its MIME type read from the bytes, the answer's JSON
// segments become the transcript, and hostile answers and inputs are clear errors.
#include <gtest/gtest.h>

#include "net/base64.h"
#include "net/local_server.h"
#include "xervo/providers.h"

namespace xervo {
namespace {

using nlohmann::json;
using testing::LocalServer;

constexpr const char* kKeyEnv = "XERVO_TEST_GEMINI_KEY";

// A RIFF/WAVE header and a few samples: enough for the MIME sniffing (Gemini decodes, not xervo).
std::string tiny_wav() {
  std::string w = "RIFF";
  w += std::string("\x24\x00\x00\x00", 4) + "WAVEfmt ";
  w += std::string(16, '\0') + "data" + std::string(4, '\0') + std::string(8, '\x01');
  return w;
}

json reply_with(const std::string& text) {
  return {{"candidates", {{{"content", {{"role", "model"}, {"parts", {{{"text", text}}}}}}, {"finishReason", "STOP"}}}},
          {"usageMetadata", {{"promptTokenCount", 300}, {"candidatesTokenCount", 17}}}};
}

class GeminiTranscribe : public ::testing::Test {
 protected:
  void SetUp() override { setenv(kKeyEnv, "AIzaTestKey0123456789", 1); }
  void TearDown() override {
    unsetenv(kKeyEnv);
    server.release();
  }

  // Serves `answer` (the model's text) and keeps each request body.
  void serve(std::string answer) {
    server.http().Post(R"(/v1beta/models/gemini-test:generateContent)",
                       [this, answer](const httplib::Request& req, httplib::Response& res) {
                         bodies.push_back(json::parse(req.body));
                         res.set_content(reply_with(answer).dump(), "application/json");
                       });
    server.start();
  }

  std::shared_ptr<TranscriberModel> model(json extra = json::object()) {
    json settings = {{"base_url", server.url("/v1beta")}, {"api_key_env", kKeyEnv}, {"timeout_ms", 10000}};
    settings.update(extra);
    ModelSpec spec;
    spec.alias = "speech";
    spec.task = ModelTask::transcribe;
    spec.provider = "gemini";
    spec.model = "gemini-test";
    auto loaded = make_gemini_provider(settings)->load(spec, {});
    EXPECT_TRUE(loaded.ok()) << loaded.error().to_string();
    return loaded.ok() ? loaded->transcriber : nullptr;
  }

  LocalServer server;
  std::vector<json> bodies;
};

TEST_F(GeminiTranscribe, SendsTheAudioInlineAndReadsTimedSegments) {
  serve(R"({"language": "en", "segments": [{"start": 0.0, "end": 1.25, "text": " Hello there."},
                                             {"start": 1.25, "end": 2.5, "text": "General Kenobi."}]})");
  auto m = model();
  ASSERT_TRUE(m);
  TranscribeRequest req;
  req.audio = tiny_wav();
  req.language = "en";
  req.prompt = "Kenobi";
  std::vector<std::string> streamed;
  auto t = m->transcribe(req, [&](const TranscriptSegment& s) {
    streamed.push_back(s.text);
    return true;
  });
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  EXPECT_EQ(t->text, "Hello there. General Kenobi.");
  EXPECT_EQ(t->language, "en");
  ASSERT_EQ(t->segments.size(), 2u);
  EXPECT_EQ(t->segments[1].start_ms, 1250);
  EXPECT_EQ(t->segments[1].end_ms, 2500);
  EXPECT_DOUBLE_EQ(t->duration_s, 2.5);
  EXPECT_EQ(t->usage.completion_tokens, 17);
  EXPECT_EQ(streamed, (std::vector<std::string>{"Hello there.", "General Kenobi."}));

  ASSERT_EQ(bodies.size(), 1u);
  const auto& parts = bodies[0]["contents"][0]["parts"];
  EXPECT_NE(parts[0]["text"].get<std::string>().find("Kenobi"), std::string::npos);
  EXPECT_EQ(parts[1]["inlineData"]["mimeType"], "audio/wav");
  EXPECT_EQ(parts[1]["inlineData"]["data"], net::base64_encode(req.audio));
  const auto& config = bodies[0]["generationConfig"];
  EXPECT_EQ(config["responseMimeType"], "application/json");
  EXPECT_EQ(config["responseJsonSchema"]["properties"]["segments"]["type"], "array");
}

TEST_F(GeminiTranscribe, TheOpenApiSchemaDialectUsesUpperCaseTypes) {
  serve(R"({"language": "de", "segments": []})");
  auto m = model({{"json_schema_field", "responseSchema"}});
  TranscribeRequest req;
  req.audio = "fLaC" + std::string(40, '\0');
  auto t = m->transcribe(req);
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  EXPECT_EQ(t->text, "");
  EXPECT_EQ(t->language, "de");
  EXPECT_EQ(bodies[0]["contents"][0]["parts"][1]["inlineData"]["mimeType"], "audio/flac");
  EXPECT_EQ(bodies[0]["generationConfig"]["responseSchema"]["type"], "OBJECT");
}

TEST_F(GeminiTranscribe, AudioItCannotSendIsRefusedBeforeAnyRequest) {
  serve("{}");
  auto m = model();
  for (const std::string& audio : {std::string(), std::string("plain text, not audio"),
                                   std::string("RIFF") + std::string(15u << 20, 'x')}) {
    TranscribeRequest req;
    req.audio = audio;
    auto t = m->transcribe(req);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.error().code(), ErrorCode::invalid_input) << t.error().message();
  }
  EXPECT_TRUE(bodies.empty());
}

TEST_F(GeminiTranscribe, HostileAnswersAreClearErrors) {
  const std::vector<std::string> answers = {
      "not json", R"({"language": "en"})", R"({"segments": {"a": 1}})",
      R"({"segments": [{"start": 0, "end": 1, "text": 42}]})", "[1, 2]", ""};
  size_t next = 0;
  server.http().Post(R"(/v1beta/models/gemini-test:generateContent)",
                     [&](const httplib::Request&, httplib::Response& res) {
                       res.set_content(reply_with(answers[next++ % answers.size()]).dump(), "application/json");
                     });
  server.start();
  auto m = model();
  TranscribeRequest req;
  req.audio = tiny_wav();
  for (const auto& answer : answers) {
    auto t = m->transcribe(req);
    ASSERT_FALSE(t.ok()) << answer;
    EXPECT_EQ(t.error().code(), ErrorCode::inference_failed) << answer << ": " << t.error().message();
  }
}

TEST_F(GeminiTranscribe, OddTimesAreClampedAndAStopFromTheCallbackCancels) {
  serve(R"({"language": "en", "segments": [{"start": -5, "end": "soon", "text": "a"},
                                             {"start": 1e308, "end": 2, "text": "b"}, {"start": 3, "end": 4, "text": "c"}]})");
  auto m = model();
  TranscribeRequest req;
  req.audio = tiny_wav();
  auto t = m->transcribe(req);
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  EXPECT_EQ(t->segments[0].start_ms, 0);
  EXPECT_EQ(t->segments[0].end_ms, 0);
  EXPECT_EQ(t->segments[1].start_ms, 1'000'000'000'000);  // capped at 1e9 s
  EXPECT_GE(t->segments[1].end_ms, t->segments[1].start_ms);
  int seen = 0;
  auto stopped = m->transcribe(req, [&](const TranscriptSegment&) { return ++seen < 2; });
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().code(), ErrorCode::cancelled);
}

}  // namespace
}  // namespace xervo
