// The gemini provider maps tools onto Gemini's wire format: functionDeclarations and
// functionCallingConfig out, functionCall / functionResponse parts for tool turns, functionCall
// parts back as tool calls (whole and streamed).
#include <gtest/gtest.h>

#include <mutex>

#include "net/local_server.h"
#include "xervo/providers.h"

namespace xervo {
namespace {

using nlohmann::json;
using testing::LocalServer;

constexpr const char* kKeyEnv = "XERVO_TEST_GEMINI_KEY";

class GeminiTools : public ::testing::Test {
 protected:
  void SetUp() override { setenv(kKeyEnv, "AIzaTestKey0123456789abcdefghijklmnopq", 1); }
  void TearDown() override {
    unsetenv(kKeyEnv);
    server.release();
  }
  LoadedModel load() {
    ModelSpec spec;
    spec.alias = "g";
    spec.task = ModelTask::generate;
    spec.provider = "gemini";
    spec.model = "gemini-test";
    json settings = {{"base_url", server.url("/v1beta")}, {"api_key_env", kKeyEnv}, {"timeout_ms", 10000}};
    auto loaded = make_gemini_provider(settings)->load(spec, {});
    EXPECT_TRUE(loaded.ok()) << loaded.error().to_string();
    return loaded.ok() ? *loaded : LoadedModel{};
  }
  static GenerateRequest request() {
    GenerateRequest req;
    ChatMessage call{"assistant", ""};
    call.tool_calls.push_back({"call_a", "get_weather", R"({"city":"Paris"})"});
    ChatMessage result{"tool", R"({"sky":"sunny"})"};
    result.tool_call_id = "call_a";  // no name: Gemini's functionResponse takes the call's
    ChatMessage second{"tool", "21 C"};
    second.tool_call_id = "call_a";
    req.messages = {{"system", "be brief"}, {"user", "weather?"}, call, result, second};
    req.tools = {{"get_weather", "Weather", R"({"type":"object","properties":{"city":{"type":"string"}}})"}};
    req.tool_choice = {ToolChoice::Mode::function, "get_weather"};
    return req;
  }
  static json call_reply() {
    return json::parse(R"({"candidates":[{"content":{"role":"model","parts":[
      {"functionCall":{"name":"get_weather","args":{"city":"Oslo"}}}]},"finishReason":"STOP"}]})");
  }
  LocalServer server;
  std::mutex mutex;
  json body;
};

TEST_F(GeminiTools, DeclarationsAndToolTurnsGoOutCallsComeBack) {
  server.http().Post(R"(/v1beta/models/gemini-test:generateContent)",
                     [&](const httplib::Request& req, httplib::Response& res) {
                       {
                         std::lock_guard lock(mutex);
                         body = json::parse(req.body);
                       }
                       res.set_content(call_reply().dump(), "application/json");
                     });
  server.start();
  auto model = load();
  auto r = model.generator->generate(request());
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->finish_reason, FinishReason::tool_calls);
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(r->tool_calls[0].arguments), json({{"city", "Oslo"}}));
  EXPECT_EQ(r->tool_calls[0].id.rfind("call_", 0), 0u);
  std::lock_guard lock(mutex);
  const auto& fn = body["tools"][0]["functionDeclarations"][0];
  EXPECT_EQ(fn["name"], "get_weather");
  EXPECT_EQ(fn["parameters"]["properties"]["city"]["type"], "string");
  EXPECT_EQ(body["toolConfig"]["functionCallingConfig"]["mode"], "ANY");
  EXPECT_EQ(body["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"], json({"get_weather"}));
  const auto& contents = body["contents"];
  ASSERT_EQ(contents.size(), 3u) << contents.dump();
  EXPECT_EQ(contents[1]["role"], "model");
  EXPECT_EQ(contents[1]["parts"][0]["functionCall"]["name"], "get_weather");
  EXPECT_EQ(contents[1]["parts"][0]["functionCall"]["args"]["city"], "Paris");
  EXPECT_EQ(contents[2]["role"], "user");
  ASSERT_EQ(contents[2]["parts"].size(), 2u);  // both results in one turn
  EXPECT_EQ(contents[2]["parts"][0]["functionResponse"]["name"], "get_weather");
  EXPECT_EQ(contents[2]["parts"][0]["functionResponse"]["response"]["sky"], "sunny");
  EXPECT_EQ(contents[2]["parts"][1]["functionResponse"]["response"]["content"], "21 C");
}

TEST_F(GeminiTools, StreamedFunctionCallArrivesWhole) {
  server.http().Post(R"(/v1beta/models/gemini-test:streamGenerateContent)",
                     [&](const httplib::Request&, httplib::Response& res) {
                       res.set_content("data: " + call_reply().dump() + "\r\n\r\n", "text/event-stream");
                     });
  server.start();
  auto model = load();
  std::vector<ToolCallDelta> deltas;
  auto r = model.generator->generate_deltas(request(), [&](const GenerateDelta& d) {
    deltas.insert(deltas.end(), d.tool_calls.begin(), d.tool_calls.end());
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->finish_reason, FinishReason::tool_calls);
  ASSERT_EQ(deltas.size(), 1u);
  EXPECT_EQ(deltas[0].name, "get_weather");
  EXPECT_EQ(json::parse(deltas[0].arguments), json({{"city", "Oslo"}}));
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].id, deltas[0].id);
}

// A functionCall part without a usable name (missing, empty, not a string) is a clear error, whole
// and streamed; it never becomes a call nobody can dispatch.
TEST_F(GeminiTools, AFunctionCallWithoutANameIsAClearError) {
  std::string part;
  auto reply = [&] {
    std::lock_guard lock(mutex);
    return json::parse(R"({"candidates":[{"content":{"role":"model","parts":[)" + part +
                       R"(]},"finishReason":"STOP"}]})");
  };
  server.http().Post(R"(/v1beta/models/gemini-test:generateContent)",
                     [&](const httplib::Request&, httplib::Response& res) {
                       res.set_content(reply().dump(), "application/json");
                     });
  server.http().Post(R"(/v1beta/models/gemini-test:streamGenerateContent)",
                     [&](const httplib::Request&, httplib::Response& res) {
                       res.set_content("data: " + reply().dump() + "\r\n\r\n", "text/event-stream");
                     });
  server.start();
  auto model = load();
  for (const char* bad : {R"({"functionCall":{"args":{"city":"Oslo"}}})", R"({"functionCall":{"name":""}})",
                          R"({"functionCall":{"name":7,"args":{}}})", R"({"functionCall":{"name":["f"]}})"}) {
    {
      std::lock_guard lock(mutex);
      part = bad;
    }
    auto whole = model.generator->generate(request());
    ASSERT_FALSE(whole.ok()) << bad;
    EXPECT_EQ(whole.error().code(), ErrorCode::inference_failed);
    EXPECT_NE(whole.error().message().find("functionCall parts with a name"), std::string::npos)
        << whole.error().message();
    auto streamed = model.generator->generate_deltas(request(), [](const GenerateDelta&) { return true; });
    ASSERT_FALSE(streamed.ok()) << bad;
    EXPECT_NE(streamed.error().message().find("functionCall parts with a name"), std::string::npos)
        << streamed.error().message();
  }
}

}  // namespace
}  // namespace xervo
