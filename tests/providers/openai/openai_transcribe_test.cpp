// The openai provider's transcription call: POST /v1/audio/transcriptions as a multipart upload to
// a stand-in server on 127.0.0.1, its verbose_json reply read into segments, a plain {text} reply,
// remote errors and a malformed reply.
#include <gtest/gtest.h>

#include <mutex>

#include "providers/openai/fake_openai.h"

namespace xervo {
namespace {

using nlohmann::json;
using testing::LocalServer;

class OpenAiTranscribe : public ::testing::Test {
 protected:
  void SetUp() override { setenv(testing::kTestKeyEnv, testing::kTestKey, 1); }
  void TearDown() override { unsetenv(testing::kTestKeyEnv); }

  std::shared_ptr<TranscriberModel> load() {
    auto provider = make_openai_provider(testing::openai_settings(server));
    auto loaded = provider->load(testing::openai_spec(ModelTask::transcribe, "whisper-1"), {});
    EXPECT_TRUE(loaded.ok()) << loaded.error().to_string();
    return loaded.ok() ? loaded->transcriber : nullptr;
  }

  LocalServer server;
  std::mutex mutex;
  std::map<std::string, std::string> fields;  // the last upload's form fields
  std::string file, filename, auth;
};

TEST_F(OpenAiTranscribe, UploadsTheAudioAsMultipartAndReadsSegments) {
  server.http().Post("/v1/audio/transcriptions", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    for (const auto& [name, part] : req.files) {
      if (name == "file") {
        file = part.content;
        filename = part.filename;
      } else {
        fields[name] = part.content;
      }
    }
    auth = req.get_header_value("Authorization");
    res.set_content(json({{"task", "transcribe"},
                          {"language", "english"},
                          {"duration", 2.5},
                          {"text", "Hello there. General Kenobi."},
                          {"segments",
                           {{{"id", 0}, {"start", 0.0}, {"end", 1.2}, {"text", " Hello there."}},
                            {{"id", 1}, {"start", 1.2}, {"end", 2.5}, {"text", " General Kenobi."}}}}})
                        .dump(),
                    "application/json");
  });
  server.start();
  auto model = load();
  ASSERT_TRUE(model);
  TranscribeRequest request;
  request.audio = std::string("RIFF\0\0\0\0WAVEdata with \"quotes\" and\r\n--boundary-like bytes", 60);
  request.filename = "talk.wav";
  request.language = "en";
  request.prompt = "Star Wars";
  std::vector<std::string> streamed;
  auto r = model->transcribe(request, [&](const TranscriptSegment& s) {
    streamed.push_back(s.text);
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->text, "Hello there. General Kenobi.");
  EXPECT_EQ(r->language, "en");
  EXPECT_DOUBLE_EQ(r->duration_s, 2.5);
  ASSERT_EQ(r->segments.size(), 2u);
  EXPECT_EQ(r->segments[1].start_ms, 1200);
  EXPECT_EQ(r->segments[1].end_ms, 2500);
  EXPECT_EQ(r->segments[1].text, "General Kenobi.");
  EXPECT_EQ(streamed, (std::vector<std::string>{"Hello there.", "General Kenobi."}));
  std::lock_guard lock(mutex);
  EXPECT_EQ(file, request.audio);  // byte for byte, binary and boundary-like content included
  EXPECT_EQ(filename, "talk.wav");
  EXPECT_EQ(fields["model"], "whisper-1");
  EXPECT_EQ(fields["response_format"], "verbose_json");
  EXPECT_EQ(fields["language"], "en");
  EXPECT_EQ(fields["prompt"], "Star Wars");
  EXPECT_EQ(auth, std::string("Bearer ") + testing::kTestKey);
}

TEST_F(OpenAiTranscribe, ATextOnlyReplyIsOneSegment) {
  server.http().Post("/v1/audio/transcriptions", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"text":"just text","usage":{"type":"tokens","output_tokens":3}})",
                    "application/json");
  });
  server.start();
  auto model = load();
  ASSERT_TRUE(model);
  TranscribeRequest request;
  request.audio = "audio";
  auto r = model->transcribe(request);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->text, "just text");
  ASSERT_EQ(r->segments.size(), 1u);
  EXPECT_EQ(r->usage.completion_tokens, 3);
}

TEST_F(OpenAiTranscribe, RemoteErrorsAndMalformedRepliesAreClear) {
  server.http().Post("/v1/audio/transcriptions", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.get_file_value("model").content == "whisper-1" && req.get_file_value("file").content == "bad") {
      res.status = 400;
      res.set_content(R"({"error":{"message":"Invalid file format.","type":"invalid_request_error"}})",
                      "application/json");
      return;
    }
    res.set_content(R"({"segments":"nope"})", "application/json");
  });
  server.start();
  auto model = load();
  ASSERT_TRUE(model);
  TranscribeRequest request;
  request.audio = "bad";
  auto r = model->transcribe(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::invalid_input);
  EXPECT_NE(r.error().message().find("Invalid file format"), std::string::npos) << r.error().message();
  request.audio = "other";
  r = model->transcribe(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::inference_failed) << r.error().to_string();
}

}  // namespace
}  // namespace xervo
