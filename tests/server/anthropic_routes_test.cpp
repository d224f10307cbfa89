// Anthropic's Messages API over HTTP: POST /v1/messages (whole and streamed) and
// /v1/messages/count_tokens against an in-process server, with the test provider (test_provider.h)
// and the scripted one (anthropic_test_provider.h) that records how a body maps onto a
// GenerateRequest and answers with thinking, text and tool calls.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "anthropic_test_provider.h"
#include "server_fixture.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

struct Event {
  std::string name;
  json data;
};

// The events of an SSE body: `event:` name and parsed `data:`.
std::vector<Event> sse_events(const std::string& body) {
  std::vector<Event> out;
  size_t pos = 0;
  while ((pos = body.find("event: ", pos)) != std::string::npos) {
    size_t eol = body.find('\n', pos);
    size_t data = body.find("data: ", eol);
    size_t end = body.find("\n\n", data);
    out.push_back({body.substr(pos + 7, eol - pos - 7), json::parse(body.substr(data + 6, end - data - 6))});
    pos = end;
  }
  return out;
}

class AnthropicRoutes : public ServerTest {
 protected:
  std::shared_ptr<ScriptLog> script = std::make_shared<ScriptLog>();

  void start_scripted() {
    RuntimeBuilder builder;
    builder.add_provider(std::make_shared<TestProvider>(probe));
    builder.add_provider(std::make_shared<ScriptedProvider>(script));
    for (const auto& spec : base_specs()) builder.add_spec(spec);
    for (const char* mode : {"tools", "think", "stop", "bad-args", "final-only"}) {
      ModelSpec s = test_spec(std::string("scripted/") + mode, ModelTask::generate, mode);
      s.provider = "scripted";
      builder.add_spec(s);
    }
    auto built = builder.build();
    ASSERT_TRUE(built.ok()) << built.error().to_string();
    runtime = *built;
    auto started = Server::start(runtime, options);
    ASSERT_TRUE(started.ok()) << started.error().to_string();
    server = std::move(*started);
  }

  static json message(const std::string& model, int max_tokens = 3) {
    return {{"model", model},
            {"max_tokens", max_tokens},
            {"messages", json::array({{{"role", "user"}, {"content", "hello"}}})}};
  }
  static json weather_tools() {
    return json::array(
        {{{"name", "get_weather"},
          {"description", "Weather in a city"},
          {"input_schema",
           {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}, {"required", {"city"}}}}},
         {{"name", "get_time"}, {"input_schema", {{"type", "object"}}}}});
  }
  // The Anthropic error of a response: its status, error.type and message.
  static void expect_error(const httplib::Result& r, int status, const std::string& type,
                           const std::string& says = "") {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    auto j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r->body;
    EXPECT_EQ(j.value("type", ""), "error") << r->body;
    ASSERT_TRUE(j.contains("error")) << r->body;
    EXPECT_EQ(j["error"].value("type", ""), type) << r->body;
    EXPECT_NE(j["error"].value("message", "").find(says), std::string::npos) << r->body;
  }
  httplib::Result post_message(const json& body, const httplib::Headers& headers = {}) {
    return post("/v1/messages", body, headers);
  }
};

TEST_F(AnthropicRoutes, CreateAnswersAWholeMessage) {
  start();
  json body = message("chat/test");
  body["system"] = "Be brief.";
  auto r = post_message(body);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["type"], "message");
  EXPECT_EQ(j["role"], "assistant");
  EXPECT_EQ(j["model"], "chat/test");
  EXPECT_EQ(j["id"].get<std::string>().rfind("msg_", 0), 0u) << j["id"];
  ASSERT_EQ(j["content"].size(), 1u);
  EXPECT_EQ(j["content"][0]["type"], "text");
  EXPECT_EQ(j["content"][0]["text"], "tok0 tok1 tok2 ");
  EXPECT_EQ(j["stop_reason"], "max_tokens");
  EXPECT_TRUE(j["stop_sequence"].is_null());
  EXPECT_EQ(j["usage"]["input_tokens"], 9 + 5);  // the test provider counts content bytes
  EXPECT_EQ(j["usage"]["output_tokens"], 3);
  EXPECT_EQ(r->get_header_value("request-id"), r->get_header_value("X-Request-Id"));
}

TEST_F(AnthropicRoutes, SystemBlocksAndToolTurnsMapToChatMessages) {
  start_scripted();
  json body = message("scripted/think", 8);
  body["system"] =
      json::array({{{"type", "text"}, {"text", "Rule one."}}, {{"type", "text"}, {"text", "Rule two."}}});
  body["tools"] = weather_tools();
  body["messages"] = json::array(
      {{{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", "Weather in Paris?"}}})}},
       {{"role", "assistant"},
        {"content", json::array({{{"type", "thinking"}, {"thinking", "I should call."}, {"signature", "x"}},
                                 {{"type", "text"}, {"text", "Checking."}},
                                 {{"type", "tool_use"},
                                  {"id", "toolu_1"},
                                  {"name", "get_weather"},
                                  {"input", {{"city", "Paris"}}}}})}},
       {{"role", "user"},
        {"content", json::array({{{"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", "sunny"}},
                                 {{"type", "tool_result"},
                                  {"tool_use_id", "toolu_1"},
                                  {"is_error", true},
                                  {"content", json::array({{{"type", "text"}, {"text", "timeout"}}})}},
                                 {{"type", "text"}, {"text", "And tomorrow?"}}})}}});
  auto r = post_message(body);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto req = script->get();
  ASSERT_EQ(req.messages.size(), 6u);
  EXPECT_EQ(req.messages[0].role, "system");
  EXPECT_EQ(req.messages[0].content, "Rule one.\nRule two.");
  EXPECT_EQ(req.messages[1].role, "user");
  EXPECT_EQ(req.messages[1].content, "Weather in Paris?");
  EXPECT_EQ(req.messages[2].role, "assistant");
  EXPECT_EQ(req.messages[2].content, "Checking.");
  EXPECT_EQ(req.messages[2].reasoning_content, "I should call.");
  ASSERT_EQ(req.messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(req.messages[2].tool_calls[0].id, "toolu_1");
  EXPECT_EQ(req.messages[2].tool_calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(req.messages[2].tool_calls[0].arguments), json({{"city", "Paris"}}));
  EXPECT_EQ(req.messages[3].role, "tool");
  EXPECT_EQ(req.messages[3].tool_call_id, "toolu_1");
  EXPECT_EQ(req.messages[3].name, "get_weather");
  EXPECT_EQ(req.messages[3].content, "sunny");
  EXPECT_EQ(req.messages[4].content, "Error: timeout");
  EXPECT_EQ(req.messages[5].role, "user");
  EXPECT_EQ(req.messages[5].content, "And tomorrow?");
  ASSERT_EQ(req.tools.size(), 2u);
  EXPECT_EQ(req.tools[0].name, "get_weather");
  EXPECT_EQ(req.tools[0].description, "Weather in a city");
  EXPECT_EQ(json::parse(req.tools[0].parameters)["required"], json({"city"}));
  EXPECT_EQ(req.tool_choice.mode, ToolChoice::Mode::automatic);
}

TEST_F(AnthropicRoutes, SamplingFieldsAndToolChoiceMapToTheRequest) {
  start_scripted();
  json body = message("scripted/tools", 7);
  body.update({{"temperature", 0.25},
               {"top_p", 0.5},
               {"top_k", 7},
               {"stop_sequences", {"END", "STOP"}},
               {"metadata", {{"user_id", "u1"}}},
               {"tools", weather_tools()}});
  struct Case {
    json choice;
    ToolChoice::Mode mode;
    std::string name;
    bool parallel;
  };
  std::vector<Case> cases = {
      {{{"type", "auto"}}, ToolChoice::Mode::automatic, "", true},
      {{{"type", "any"}, {"disable_parallel_tool_use", true}}, ToolChoice::Mode::required, "", false},
      {{{"type", "tool"}, {"name", "get_time"}}, ToolChoice::Mode::function, "get_time", true},
      {{{"type", "none"}}, ToolChoice::Mode::none, "", true}};
  for (const auto& c : cases) {
    body["tool_choice"] = c.choice;
    auto r = post_message(body);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto req = script->get();
    EXPECT_EQ(req.tool_choice.mode, c.mode) << c.choice;
    EXPECT_EQ(req.tool_choice.name, c.name) << c.choice;
    EXPECT_EQ(req.parallel_tool_calls, c.parallel) << c.choice;
    EXPECT_EQ(req.options.max_tokens, 7);
    EXPECT_FLOAT_EQ(req.options.temperature, 0.25f);
    EXPECT_FLOAT_EQ(req.options.top_p, 0.5f);
    EXPECT_EQ(req.options.top_k, 7);
    EXPECT_EQ(req.options.stop, (std::vector<std::string>{"END", "STOP"}));
  }
  // tool_choice none: the tools still reach the model, which answers in text.
  EXPECT_EQ(json::parse(post_message(body)->body)["content"][0]["text"], "no tools");
}

TEST_F(AnthropicRoutes, ToolCallsBecomeToolUseBlocks) {
  start_scripted();
  json body = message("scripted/tools", 64);
  body["tools"] = weather_tools();
  auto r = post_message(body);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  ASSERT_EQ(j["content"].size(), 3u) << j.dump();
  EXPECT_EQ(j["content"][0], json({{"type", "thinking"}, {"thinking", "step one. "}, {"signature", ""}}));
  EXPECT_EQ(j["content"][1], json({{"type", "text"}, {"text", "Let me check."}}));
  EXPECT_EQ(
      j["content"][2],
      json(
          {{"type", "tool_use"}, {"id", "call_1"}, {"name", "get_weather"}, {"input", {{"city", "Paris"}}}}));
  EXPECT_EQ(j["stop_reason"], "tool_use");
  // The named tool is the one called.
  body["tool_choice"] = {{"type", "tool"}, {"name", "get_time"}};
  j = json::parse(post_message(body)->body);
  EXPECT_EQ(j["content"][2]["name"], "get_time");
}

TEST_F(AnthropicRoutes, StreamSendsAnthropicsEventsInOrder) {
  start();
  json body = message("chat/test", 3);
  body["stream"] = true;
  auto r = post_message(body);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  auto events = sse_events(r->body);
  std::vector<std::string> names;
  for (const auto& e : events) names.push_back(e.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"message_start", "content_block_start", "ping", "content_block_delta",
                                      "content_block_delta", "content_block_delta", "content_block_stop",
                                      "message_delta", "message_stop"}));
  for (const auto& e : events) EXPECT_EQ(e.data["type"], e.name);
  ASSERT_EQ(events.size(), 9u);
  EXPECT_EQ(events[0].data["message"]["role"], "assistant");
  EXPECT_EQ(events[0].data["message"]["content"], json::array());
  EXPECT_EQ(events[1].data["content_block"], json({{"type", "text"}, {"text", ""}}));
  std::string text;
  for (size_t i = 3; i < 6; ++i) {
    EXPECT_EQ(events[i].data["index"], 0);
    EXPECT_EQ(events[i].data["delta"]["type"], "text_delta");
    text += events[i].data["delta"]["text"].get<std::string>();
  }
  EXPECT_EQ(text, "tok0 tok1 tok2 ");
  EXPECT_EQ(events[7].data["delta"]["stop_reason"], "max_tokens");
  EXPECT_EQ(events[7].data["usage"]["output_tokens"], 3);
  EXPECT_EQ(events[7].data["usage"]["input_tokens"], 5);
}

TEST_F(AnthropicRoutes, StreamedToolCallReassemblesToTheWholeOne) {
  start_scripted();
  json body = message("scripted/tools", 64);
  body["tools"] = weather_tools();
  auto whole = json::parse(post_message(body)->body);
  body["stream"] = true;
  auto r = post_message(body);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto events = sse_events(r->body);
  // The prompt is counted before generating: message_start carries it.
  EXPECT_EQ(events[0].data["message"]["usage"]["input_tokens"], whole["usage"]["input_tokens"]);
  // Rebuild the content from the events, as a client does.
  json content = json::array();
  std::map<int, std::string> partial_json;
  std::vector<int> stopped;
  json delta;
  for (const auto& e : events) {
    if (e.name == "content_block_start") {
      EXPECT_EQ(e.data["index"], content.size());
      content.push_back(e.data["content_block"]);
    } else if (e.name == "content_block_delta") {
      int i = e.data["index"];
      const auto& d = e.data["delta"];
      if (d["type"] == "text_delta")
        content[i]["text"] = content[i]["text"].get<std::string>() + d["text"].get<std::string>();
      if (d["type"] == "thinking_delta")
        content[i]["thinking"] = content[i]["thinking"].get<std::string>() + d["thinking"].get<std::string>();
      if (d["type"] == "input_json_delta") partial_json[i] += d["partial_json"].get<std::string>();
    } else if (e.name == "content_block_stop") {
      stopped.push_back(e.data["index"]);
    } else if (e.name == "message_delta") {
      delta = e.data;
    }
  }
  for (auto& [i, text] : partial_json) content[i]["input"] = json::parse(text);
  EXPECT_EQ(content, whole["content"]);
  EXPECT_EQ(stopped, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(partial_json.size(), 1u);
  EXPECT_EQ(delta["delta"]["stop_reason"], "tool_use");
  EXPECT_EQ(events.back().name, "message_stop");
}

TEST_F(AnthropicRoutes, CallsOnlyInTheFinalResultStillReachTheStream) {
  start_scripted();
  json body = message("scripted/final-only", 64);
  body["tools"] = weather_tools();
  body["stream"] = true;
  auto events = sse_events(post_message(body)->body);
  std::vector<std::string> blocks;
  json tool;
  std::string args;
  for (const auto& e : events) {
    if (e.name == "content_block_start") blocks.push_back(e.data["content_block"]["type"]);
    if (e.name == "content_block_start" && e.data["content_block"]["type"] == "tool_use")
      tool = e.data["content_block"];
    if (e.name == "content_block_delta" && e.data["delta"]["type"] == "input_json_delta")
      args += e.data["delta"]["partial_json"].get<std::string>();
  }
  EXPECT_EQ(blocks, (std::vector<std::string>{"text", "thinking", "tool_use"}));
  EXPECT_EQ(tool["id"], "call_final");
  EXPECT_EQ(json::parse(args), json({{"city", "Rome"}}));
  // The provider cannot count: message_start says 0 and message_delta has the real count.
  EXPECT_EQ(events[0].data["message"]["usage"]["input_tokens"], 0);
  EXPECT_EQ(events[events.size() - 2].data["usage"]["input_tokens"], 5 + 11 + 8);  // content and tool names
}

TEST_F(AnthropicRoutes, StopSequenceIsReportedOnlyForTheClientsOwn) {
  start_scripted();
  json body = message("scripted/stop", 16);
  body["stop_sequences"] = {"END"};
  auto j = json::parse(post_message(body)->body);
  EXPECT_EQ(j["stop_reason"], "stop_sequence");
  EXPECT_EQ(j["stop_sequence"], "END");
  EXPECT_EQ(j["content"][0]["text"], "before");
  body["stream"] = true;
  auto events = sse_events(post_message(body)->body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[events.size() - 2].data["delta"],
            json({{"stop_reason", "stop_sequence"}, {"stop_sequence", "END"}}));
  // A chat template's own end marker is the end of the turn.
  body.erase("stop_sequences");
  body["stream"] = false;
  j = json::parse(post_message(body)->body);
  EXPECT_EQ(j["stop_reason"], "end_turn");
  EXPECT_TRUE(j["stop_sequence"].is_null());
}

TEST_F(AnthropicRoutes, ThinkingBlocksUnlessThinkingIsDisabled) {
  start_scripted();
  json body = message("scripted/think", 16);
  auto j = json::parse(post_message(body)->body);
  ASSERT_EQ(j["content"].size(), 2u) << j.dump();
  EXPECT_EQ(j["content"][0]["thinking"], "step one. ");
  EXPECT_EQ(j["content"][1]["text"], "answer");
  EXPECT_EQ(j["stop_reason"], "end_turn");
  body["thinking"] = {{"type", "enabled"}, {"budget_tokens", 1024}};
  EXPECT_EQ(json::parse(post_message(body)->body)["content"].size(), 2u);
  EXPECT_TRUE(script->get().options.separate_reasoning);
  body["thinking"] = {{"type", "disabled"}};
  j = json::parse(post_message(body)->body);
  EXPECT_FALSE(script->get().options.separate_reasoning);
  ASSERT_EQ(j["content"].size(), 1u) << j.dump();
  EXPECT_EQ(j["content"][0]["text"], "<think>step one. </think>answer");
  body["stream"] = true;
  body["thinking"] = {{"type", "enabled"}, {"budget_tokens", 1024}};
  auto events = sse_events(post_message(body)->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events[1].data["content_block"]["type"], "thinking");
  EXPECT_EQ(events[3].data["delta"], json({{"type", "thinking_delta"}, {"thinking", "step one. "}}));
}

TEST_F(AnthropicRoutes, MalformedRequestsAreInvalidRequestErrors) {
  options.max_tokens = 100;
  start_scripted();
  auto with = [](json body, const json& patch) {
    body.merge_patch(patch);
    return body;
  };
  const json base = message("scripted/tools", 8);
  auto user = [](json content) { return json::array({{{"role", "user"}, {"content", content}}}); };
  struct Case {
    json body;
    std::string says;
  };
  json no_max = base;
  no_max.erase("max_tokens");
  json image =
      user(json::array({{{"type", "image"},
                         {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", "AAAA"}}}}}));
  json stray = user(json::array({{{"type", "tool_result"}, {"tool_use_id", "toolu_x"}, {"content", "?"}}}));
  std::vector<Case> cases = {
      {no_max, "'max_tokens' is required"},
      {with(base, {{"max_tokens", 101}}), "'max_tokens' must be between 1 and 100"},
      {with(base, {{"temperature", 1.5}}), "'temperature'"},
      {with(base, {{"messages", image}}), "image block"},
      {with(base, {{"messages", stray}}), "no earlier assistant tool_use"},
      {with(base, {{"messages", json::array({{{"role", "system"}, {"content", "x"}}})}}),
       "top-level 'system'"},
      {with(base, {{"messages", json::array({{{"role", "user"}, {"content", "a"}},
                                             {{"role", "assistant"}, {"content", "b"}}})}}),
       "prefill"},
      {with(base, {{"messages", json::array()}}), "'messages' is required"},
      {with(base, {{"tools", weather_tools()}, {"tool_choice", {{"type", "tool"}, {"name", "nope"}}}}),
       "not in 'tools'"},
      {with(base, {{"tool_choice", {{"type", "any"}}}}), "needs 'tools'"},
      {with(base, {{"tools", json::array({{{"type", "bash_20250124"}, {"name", "bash"}}})}}),
       "Anthropic's own tools"},
      {with(base,
            {{"tools", json::array({{{"name", "has space"}, {"input_schema", {{"type", "object"}}}}})}}),
       "'tools[0].name'"},
      {with(base, {{"stop_sequences", {""}}}), "'stop_sequences[0]'"},
      {with(base, {{"thinking", {{"type", "enabled"}}}}), "budget_tokens"},
      {with(base, {{"system", 5}}), "'system'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body.dump());
    expect_error(post_message(c.body), 400, "invalid_request_error", c.says);
  }
  expect_error(post_raw("/v1/messages", "{not json"), 400, "invalid_request_error", "not valid JSON");
  EXPECT_EQ(script->calls, 0) << "a refused request reached the model";
}

TEST_F(AnthropicRoutes, UnknownModelRouteAndMethodAreAnthropicErrors) {
  start();
  expect_error(post_message(message("chat/none")), 404, "not_found_error", "chat/none");
  expect_error(post_message(message("embed/test")), 400, "invalid_request_error");
  expect_error(get("/v1/messages"), 405, "invalid_request_error", "POST");
  expect_error(post("/v1/messages/batches", message("chat/test")), 404, "not_found_error");
}

TEST_F(AnthropicRoutes, KeysComeAsXApiKeyOrBearer) {
  options.keys = {{"anthropic", sha256_hex("secret-key"), {"inference"}}};
  start();
  expect_error(post_message(message("chat/test")), 401, "authentication_error", "x-api-key");
  expect_error(post_message(message("chat/test"), {{"x-api-key", "wrong"}}), 401, "authentication_error");
  auto ok =
      post_message(message("chat/test"), {{"x-api-key", "secret-key"}, {"anthropic-version", "2023-06-01"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  auto bearer = post_message(message("chat/test"), {{"Authorization", "Bearer secret-key"}});
  ASSERT_TRUE(bearer);
  EXPECT_EQ(bearer->status, 200) << bearer->body;
  auto counted = post("/v1/messages/count_tokens", message("chat/test"), {{"x-api-key", "wrong"}});
  expect_error(counted, 401, "authentication_error");
  // Only the Anthropic routes take x-api-key.
  auto openai = post("/v1/chat/completions", message("chat/test"), {{"x-api-key", "secret-key"}});
  ASSERT_TRUE(openai);
  EXPECT_EQ(openai->status, 401);
  EXPECT_EQ(error_code(openai), "unauthorized");
}

TEST_F(AnthropicRoutes, RateLimitIsARateLimitError) {
  options.requests_per_minute = 1;
  start();
  ASSERT_EQ(post_message(message("chat/test"))->status, 200);
  auto r = post_message(message("chat/test"));
  expect_error(r, 429, "rate_limit_error");
  EXPECT_FALSE(r->get_header_value("Retry-After").empty());
}

TEST_F(AnthropicRoutes, EngineFailureIsAnApiErrorWholeOrMidStream) {
  start();
  expect_error(post_message(message("chat/fail")), 500, "api_error", "test generation failure");
  json body = message("chat/fail");
  body["stream"] = true;
  auto r = post_message(body);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto events = sse_events(r->body);
  ASSERT_EQ(events.size(), 2u) << r->body;
  EXPECT_EQ(events[0].name, "message_start");
  EXPECT_EQ(events[1].name, "error");
  EXPECT_EQ(
      events[1].data,
      json({{"type", "error"}, {"error", {{"type", "api_error"}, {"message", "test generation failure"}}}}));
}

TEST_F(AnthropicRoutes, ToolArgumentsThatAreNotJsonAreAnApiError) {
  start_scripted();
  json body = message("scripted/bad-args", 8);
  body["tools"] = weather_tools();
  expect_error(post_message(body), 500, "api_error", "not a JSON object");
  body["stream"] = true;
  auto events = sse_events(post_message(body)->body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().name, "error");
  EXPECT_EQ(events.back().data["error"]["type"], "api_error");
  for (const auto& e : events) EXPECT_NE(e.name, "message_stop");
}

TEST_F(AnthropicRoutes, CountTokensCountsTheRenderedPrompt) {
  start_scripted();
  json body = {{"model", "scripted/tools"},
               {"system", "sys"},
               {"tools", weather_tools()},
               {"messages", json::array({{{"role", "user"}, {"content", "hello"}}})}};
  auto r = post("/v1/messages/count_tokens", body);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body), json({{"input_tokens", 3 + 5 + 11 + 8}}));
  EXPECT_EQ(script->calls, 0) << "counting generated";
  // A provider without the model's tokenizer (remote APIs) says so.
  body["model"] = "scripted/final-only";
  expect_error(post("/v1/messages/count_tokens", body), 400, "invalid_request_error", "cannot count");
  body["messages"] = json::array();
  expect_error(post("/v1/messages/count_tokens", body), 400, "invalid_request_error", "'messages'");
}

TEST_F(AnthropicRoutes, ClientLeavingMidStreamCancelsTheGeneration) {
  start();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  json body = message("chat/endless", 100);
  body["stream"] = true;
  std::string text = body.dump();
  std::string request =
      "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(text.size()) + "\r\n\r\n" + text;
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string got;
  char buf[4096];
  while (got.find("tok3") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(probe->cancelled.load(), 0);
  ::close(fd);
  EXPECT_TRUE(Probe::eventually([&] { return probe->cancelled.load() == 1; }))
      << "the generation kept running after the client went away";
  EXPECT_EQ(probe->finished.load(), 0);
}

}  // namespace
}  // namespace xervo::testing
