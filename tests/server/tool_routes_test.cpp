// Tool calling and reasoning over /v1/chat/completions with a test-double generator: the request
// fields reach the generator, calls come back in OpenAI's shape (whole and streamed), and bad
// tool definitions are 400s naming the field.
#include "server_fixture.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    size_t end = body.find("\n\n", pos);
    out.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  return out;
}

json weather_tool(const std::string& name = "get_weather") {
  json params = {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}};
  json fn = {{"name", name}, {"description", "weather"}, {"parameters", params}};
  return {{"type", "function"}, {"function", fn}};
}

json tool_body(json extra = json::object()) {
  json body = {{"model", "chat/test"},
               {"messages", {{{"role", "user"}, {"content", "weather in Paris?"}}}},
               {"tools", {weather_tool(), weather_tool("get_time")}}};
  for (auto& [k, v] : extra.items()) body[k] = v;
  return body;
}

TEST_F(ServerTest, ToolCallComesBackInOpenAIShape) {
  start();
  auto r = post("/v1/chat/completions",
                tool_body({{"tool_choice", {{"type", "function"}, {"function", {{"name", "get_time"}}}}},
                           {"parallel_tool_calls", false}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  const auto& choice = j["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  EXPECT_EQ(choice["message"]["reasoning_content"], "hmm");
  const auto& call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["id"], "call_test1");
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_time");
  EXPECT_EQ(call["function"]["arguments"], "{\"x\": 1}");
  std::lock_guard lock(probe->mu);
  ASSERT_EQ(probe->last_tools.size(), 2u);
  EXPECT_EQ(probe->last_tools[0].name, "get_weather");
  EXPECT_EQ(json::parse(probe->last_tools[0].parameters)["properties"]["city"]["type"], "string");
  EXPECT_EQ(probe->last_choice.mode, ToolChoice::Mode::function);
  EXPECT_EQ(probe->last_choice.name, "get_time");
}

TEST_F(ServerTest, ToolChoiceModesAndReasoningFormatReachTheGenerator) {
  start();
  for (const auto& [choice, mode] : std::vector<std::pair<std::string, ToolChoice::Mode>>{
           {"auto", ToolChoice::Mode::automatic}, {"required", ToolChoice::Mode::required}}) {
    auto r = post("/v1/chat/completions", tool_body({{"tool_choice", choice}, {"reasoning_format", "none"}}));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    std::lock_guard lock(probe->mu);
    EXPECT_EQ(probe->last_choice.mode, mode) << choice;
    EXPECT_FALSE(probe->last_separate_reasoning);
  }
  auto none = post("/v1/chat/completions", tool_body({{"tool_choice", "none"}, {"max_tokens", 2}}));
  ASSERT_TRUE(none);
  ASSERT_EQ(none->status, 200) << none->body;
  auto j = json::parse(none->body);
  EXPECT_FALSE(j["choices"][0]["message"].contains("tool_calls"));
  EXPECT_NE(j["choices"][0]["finish_reason"], "tool_calls");
}

TEST_F(ServerTest, ToolHistoryReachesTheGenerator) {
  start();
  json messages = {{{"role", "user"}, {"content", "weather?"}},
                   {{"role", "assistant"},
                    {"content", nullptr},
                    {"tool_calls",
                     {{{"id", "call_a"},
                       {"type", "function"},
                       {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Paris\"}"}}}}}}},
                   {{"role", "tool"}, {"tool_call_id", "call_a"}, {"content", "sunny"}}};
  auto r = post("/v1/chat/completions", tool_body({{"messages", messages}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  std::lock_guard lock(probe->mu);
  ASSERT_EQ(probe->last_messages.size(), 3u);
  ASSERT_EQ(probe->last_messages[1].tool_calls.size(), 1u);
  EXPECT_EQ(probe->last_messages[1].tool_calls[0].id, "call_a");
  EXPECT_EQ(probe->last_messages[1].tool_calls[0].arguments, "{\"city\":\"Paris\"}");
  EXPECT_EQ(probe->last_messages[1].content, "");
  EXPECT_EQ(probe->last_messages[2].role, "tool");
  EXPECT_EQ(probe->last_messages[2].tool_call_id, "call_a");
  EXPECT_EQ(probe->last_messages[2].content, "sunny");
}

TEST_F(ServerTest, StreamedToolCallDeltasAreInOpenAIChunkShape) {
  start();
  auto r = post("/v1/chat/completions", tool_body({{"stream", true}, {"tool_choice", "required"}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto events = sse_events(r->body);
  ASSERT_GE(events.size(), 6u) << r->body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string reasoning, arguments, finish;
  int headers = 0;
  for (const auto& e : events) {
    if (e == "[DONE]") continue;
    auto c = json::parse(e);
    const auto& choice = c["choices"][0];
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
    const auto& delta = choice["delta"];
    if (delta.contains("reasoning_content")) reasoning += delta["reasoning_content"].get<std::string>();
    if (!delta.contains("tool_calls")) continue;
    for (const auto& t : delta["tool_calls"]) {
      EXPECT_EQ(t["index"], 0);
      if (t.contains("id")) {
        ++headers;
        EXPECT_EQ(t["id"], "call_test1");
        EXPECT_EQ(t["type"], "function");
        EXPECT_EQ(t["function"]["name"], "get_weather");
      } else {
        EXPECT_FALSE(t["function"].contains("name"));
      }
      arguments += t["function"]["arguments"].get<std::string>();
    }
  }
  EXPECT_EQ(headers, 1);
  EXPECT_EQ(arguments, "{\"x\": 1}");
  EXPECT_EQ(reasoning, "hmm");
  EXPECT_EQ(finish, "tool_calls");
}

TEST_F(ServerTest, BadToolDefinitionsAre400NamingTheField) {
  start();
  json big_schema = {{"type", "object"}, {"description", std::string(70000, 'x')}};
  struct Case {
    json body;
    std::string says;
  };
  std::vector<Case> cases = {
      {tool_body({{"tools", {weather_tool(), weather_tool()}}}), "used twice"},
      {tool_body({{"tools", {{{"type", "function"}, {"function", {{"name", "a b"}}}}}}}), "function.name"},
      {tool_body(
           {{"tools",
             {{{"type", "function"}, {"function", {{"name", "a"}, {"parameters", {{"type", "string"}}}}}}}}}),
       "JSON Schema of an object"},
      {tool_body(
           {{"tools", {{{"type", "function"}, {"function", {{"name", "a"}, {"parameters", big_schema}}}}}}}),
       "bytes; at most"},
      {tool_body({{"tools", {{{"type", "retrieval"}}}}}), "only function tools"},
      {tool_body({{"tools", "get_weather"}}), "'tools' must be an array"},
      {tool_body({{"tool_choice", {{"type", "function"}, {"function", {{"name", "nope"}}}}}}),
       "not among 'tools'"},
      {tool_body({{"tool_choice", "sometimes"}}), "'tool_choice' must be"},
      {tool_body({{"tools", json::array()}, {"tool_choice", "required"}}), "'tools' is empty"},
      {tool_body({{"reasoning_format", "verbose"}}), "reasoning_format"},
      {tool_body({{"messages", {{{"role", "tool"}, {"content", "x"}}}}}), "tool_call_id"},
      {tool_body({{"messages", {{{"role", "user"}, {"content", "x"}, {"tool_calls", json::array()}}}}}),
       "only assistant messages"},
      {{{"model", "chat/test"}, {"prompt", "x"}, {"tools", {weather_tool()}}}, "/v1/chat/completions"},
  };
  for (const auto& c : cases) {
    const bool chat = c.body.contains("messages");
    auto r = post(chat ? "/v1/chat/completions" : "/v1/completions", c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << c.says << ": " << r->body;
    auto j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r->body;
    EXPECT_EQ(j["error"]["type"], "invalid_request_error") << r->body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(c.says), std::string::npos)
        << c.says << ": " << r->body;
  }
}

}  // namespace
}  // namespace xervo::testing
