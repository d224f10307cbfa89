// The openai provider passes tools through: tools, tool_choice and tool turns go out in OpenAI's
// shape, message.tool_calls come back whole, delta.tool_calls streamed.
#include <gtest/gtest.h>

#include <mutex>

#include "providers/openai/fake_openai.h"

namespace xervo {
namespace {

using nlohmann::json;
using testing::LocalServer;

class OpenAiTools : public ::testing::Test {
 protected:
  void SetUp() override { setenv(testing::kTestKeyEnv, testing::kTestKey, 1); }
  void TearDown() override { unsetenv(testing::kTestKeyEnv); }
  LoadedModel load() {
    auto loaded = make_openai_provider(testing::openai_settings(server))
                      ->load(testing::openai_spec(ModelTask::generate), {});
    EXPECT_TRUE(loaded.ok()) << loaded.error().to_string();
    return loaded.ok() ? *loaded : LoadedModel{};
  }
  static GenerateRequest request() {
    GenerateRequest req;
    ChatMessage call{"assistant", ""};
    call.tool_calls.push_back({"call_a", "get_weather", R"({"city":"Paris"})"});
    ChatMessage result{"tool", "sunny"};
    result.tool_call_id = "call_a";
    req.messages = {{"user", "weather?"}, call, result};
    req.tools = {{"get_weather", "Weather", R"({"type":"object","properties":{"city":{"type":"string"}}})"}};
    req.tool_choice = {ToolChoice::Mode::function, "get_weather"};
    req.parallel_tool_calls = false;
    return req;
  }
  LocalServer server;
  std::mutex mutex;
  json body;
};

TEST_F(OpenAiTools, ToolsGoOutAndCallsComeBack) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(mutex);
      body = json::parse(req.body);
    }
    res.set_content(R"({"choices":[{"message":{"role":"assistant","content":null,"reasoning_content":"hmm",
      "tool_calls":[{"id":"call_b","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},
      "finish_reason":"tool_calls"}]})",
                    "application/json");
  });
  server.start();
  auto model = load();
  auto r = model.generator->generate(request());
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(r->reasoning, "hmm");
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].id, "call_b");
  EXPECT_EQ(r->tool_calls[0].name, "get_weather");
  EXPECT_EQ(r->tool_calls[0].arguments, R"({"city":"Oslo"})");
  std::lock_guard lock(mutex);
  EXPECT_EQ(body["tools"][0]["type"], "function");
  EXPECT_EQ(body["tools"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(body["tools"][0]["function"]["parameters"]["properties"]["city"]["type"], "string");
  EXPECT_EQ(body["tool_choice"], json::parse(R"({"type":"function","function":{"name":"get_weather"}})"));
  EXPECT_EQ(body["parallel_tool_calls"], false);
  EXPECT_FALSE(body.contains("stream"));  // a whole request is not streamed underneath
  const auto& m = body["messages"];
  EXPECT_TRUE(m[1]["content"].is_null());
  EXPECT_EQ(m[1]["tool_calls"][0]["id"], "call_a");
  EXPECT_EQ(m[1]["tool_calls"][0]["function"]["arguments"], R"({"city":"Paris"})");
  EXPECT_EQ(m[2]["role"], "tool");
  EXPECT_EQ(m[2]["tool_call_id"], "call_a");
}

TEST_F(OpenAiTools, StreamedCallDeltasAreAssembled) {
  server.http().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    std::string sse;
    for (
        const char* delta :
        {R"({"tool_calls":[{"index":0,"id":"call_s","type":"function","function":{"name":"get_weather","arguments":""}}]})",
         R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]})",
         R"({"tool_calls":[{"index":0,"function":{"arguments":"\"Lima\"}"}}]})"}) {
      json chunk = {{"choices", {{{"index", 0}, {"delta", json::parse(delta)}, {"finish_reason", nullptr}}}}};
      sse += "data: " + chunk.dump() + "\n\n";
    }
    sse += R"(data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})"
           "\n\ndata: [DONE]\n\n";
    res.set_content(sse, "text/event-stream");
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
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].id, "call_s");
  EXPECT_EQ(r->tool_calls[0].arguments, R"({"city":"Lima"})");
  ASSERT_EQ(deltas.size(), 3u);
  EXPECT_EQ(deltas[0].id, "call_s");
  EXPECT_EQ(deltas[0].name, "get_weather");
  EXPECT_EQ(deltas[1].arguments + deltas[2].arguments, R"({"city":"Lima"})");
}

// A hostile or broken upstream: call deltas that are not in OpenAI's shape end the call with a clear
// inference_failed error naming what was expected, never an exception or a call at a wild index.
TEST_F(OpenAiTools, MalformedCallDeltasAreAClearError) {
  std::string delta;
  server.http().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(mutex);
    json chunk = {{"choices", {{{"index", 0}, {"delta", json::parse(delta)}, {"finish_reason", nullptr}}}}};
    res.set_content("data: " + chunk.dump() + "\n\ndata: [DONE]\n\n", "text/event-stream");
  });
  server.start();
  auto model = load();
  for (const char* bad : {R"({"tool_calls":[{"index":"0","function":{"name":"f"}}]})",
                          R"({"tool_calls":[{"index":1.5,"function":{"name":"f"}}]})",
                          R"({"tool_calls":[{"index":-1,"function":{"name":"f"}}]})",
                          R"({"tool_calls":[{"index":5000000000,"function":{"name":"f"}}]})",
                          R"({"tool_calls":[{"index":3,"function":{"name":"f"}}]})",  // skips 0..2
                          R"({"tool_calls":["f"]})", R"({"tool_calls":{"index":0}})"}) {
    {
      std::lock_guard lock(mutex);
      delta = bad;
    }
    auto r = model.generator->generate_deltas(request(), [](const GenerateDelta&) { return true; });
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::inference_failed) << bad;
    EXPECT_NE(r.error().message().find("delta.tool_calls in OpenAI's shape"), std::string::npos)
        << r.error().message();
  }
}

}  // namespace
}  // namespace xervo
