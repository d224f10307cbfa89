// xervo's own tool-call format: parsing whole and partial answers, the checks on tool definitions,
// conversations with tool turns written as text, and the grammar llama.cpp must accept.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "providers/llamacpp/tool_format.h"

namespace xervo::llamacpp {
namespace {

const char* kWeather = R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})";

GenerateRequest with_tools(std::vector<ToolDefinition> tools) {
  GenerateRequest r;
  r.messages = {{"user", "hi"}};
  r.tools = std::move(tools);
  return r;
}

TEST(ToolFormat, ParsesContentAndCalls) {
  const std::string text =
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Paris\"}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
  auto out = parse_tool_format(text, false);
  EXPECT_EQ(out.content, "Let me check.\n");
  ASSERT_EQ(out.calls.size(), 2u);
  EXPECT_EQ(out.calls[0].name, "get_weather");
  EXPECT_EQ(nlohmann::json::parse(out.calls[0].arguments), nlohmann::json({{"city", "Paris"}}));
  EXPECT_EQ(out.calls[1].name, "get_time");
  EXPECT_EQ(out.calls[1].arguments, "{}");
}

TEST(ToolFormat, EveryPrefixParsesToAPrefixOfTheWhole) {
  const std::string text =
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Pa}ris\\\"\", \"n\": [1, {\"a\": "
      "2}]}}"
      "\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {\"x\": true}}\n</tool_call>";
  const auto whole = parse_tool_format(text, false);
  ASSERT_EQ(whole.calls.size(), 2u);
  EXPECT_TRUE(whole.content.empty());
  for (size_t n = 0; n <= text.size(); ++n) {
    const auto part = parse_tool_format(std::string_view(text).substr(0, n), true);
    EXPECT_TRUE(part.content.empty()) << "prefix " << n << ": '" << part.content << "'";
    ASSERT_LE(part.calls.size(), 2u);
    for (size_t i = 0; i < part.calls.size(); ++i) {
      if (part.calls[i].name.empty()) continue;
      EXPECT_EQ(part.calls[i].name, whole.calls[i].name) << n;
      EXPECT_EQ(whole.calls[i].arguments.rfind(part.calls[i].arguments, 0), 0u)
          << "prefix " << n << ": '" << part.calls[i].arguments << "'";
    }
  }
}

TEST(ToolFormat, PartialHoldsBackATagStart) {
  EXPECT_EQ(parse_tool_format("Hello <tool", true).content, "Hello ");
  EXPECT_EQ(parse_tool_format("Hello <tool", false).content, "Hello <tool");
}

TEST(ToolFormat, MalformedBlockStaysContent) {
  const std::string text = "<tool_call>\nnot json\n</tool_call>";
  auto out = parse_tool_format(text, false);
  EXPECT_TRUE(out.calls.empty());
  EXPECT_EQ(out.content, text);
  // Cut short: not a call when the answer is over.
  const std::string cut = "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": ";
  EXPECT_TRUE(parse_tool_format(cut, false).calls.empty());
  EXPECT_EQ(parse_tool_format(cut, true).calls.size(), 1u);
}

TEST(ToolFormat, ChecksToolDefinitions) {
  EXPECT_TRUE(check_tools(with_tools({{"get_weather", "", kWeather}})).ok());
  auto expect_bad = [](const GenerateRequest& r, const std::string& says) {
    auto checked = check_tools(r);
    ASSERT_FALSE(checked.ok()) << says;
    EXPECT_EQ(checked.error().code(), ErrorCode::invalid_input);
    EXPECT_NE(checked.error().message().find(says), std::string::npos) << checked.error().message();
  };
  expect_bad(with_tools({{"a b", "", kWeather}}), "must be 1 to 64");
  expect_bad(with_tools({{"a", "", kWeather}, {"a", "", kWeather}}), "used twice");
  expect_bad(with_tools({{"a", "", R"({"type":"string"})"}}), "JSON Schema of an object");
  expect_bad(with_tools({{"a", "", "{nope"}}), "not valid JSON");
  expect_bad(with_tools({{"a", "", std::string(70000, ' ') + "{}"}}), "bytes; at most");
  auto named = with_tools({{"a", "", kWeather}});
  named.tool_choice = {ToolChoice::Mode::function, "b"};
  expect_bad(named, "not among the tools");
  auto required = with_tools({});
  required.tool_choice.mode = ToolChoice::Mode::required;
  expect_bad(required, "no tools");
}

TEST(ToolFormat, ToolTurnsBecomeText) {
  GenerateRequest r = with_tools({{"get_weather", "Weather", kWeather}});
  ChatMessage call{"assistant", ""};
  call.tool_calls.push_back({"call_1", "get_weather", R"({"city":"Paris"})"});
  ChatMessage result{"tool", "21 C"};
  result.tool_call_id = "call_1";
  r.messages = {{"system", "Be brief."}, {"user", "Weather?"}, call, result};
  auto out = messages_with_tool_text(r);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].role, "system");
  EXPECT_NE(out[0].content.find("Be brief."), std::string::npos);
  EXPECT_NE(out[0].content.find("\"get_weather\""), std::string::npos);
  EXPECT_EQ(out[2].content,
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}\n</tool_call>");
  EXPECT_EQ(out[3].role, "user");
  EXPECT_EQ(out[3].content, "<tool_response>\n21 C\n</tool_response>");
  // What is written back parses as the same call.
  auto parsed = parse_tool_format(out[2].content, false);
  ASSERT_EQ(parsed.calls.size(), 1u);
  EXPECT_EQ(parsed.calls[0].name, "get_weather");
}

TEST(ToolFormat, GrammarHasOneRootAndNamesEveryTool) {
  auto g = tool_call_grammar({{"get_weather", "", kWeather}, {"get_time", "", "{}"}}, true);
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_NE(g->find("root ::= xervo-call (\"\\n\" xervo-call)*"), std::string::npos) << *g;
  EXPECT_EQ(g->find("\nroot ::= ", g->find("root ::= ") + 1), std::string::npos) << *g;
  EXPECT_NE(g->find("get_weather"), std::string::npos);
  EXPECT_NE(g->find("get_time"), std::string::npos);
  auto single = tool_call_grammar({{"get_weather", "", kWeather}}, false);
  ASSERT_TRUE(single.ok());
  EXPECT_NE(single->find("root ::= xervo-call\n"), std::string::npos) << *single;
}

}  // namespace
}  // namespace xervo::llamacpp
