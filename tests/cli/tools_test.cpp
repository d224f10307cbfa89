// `xervo generate` and `xervo chat` with --tool FILE.json: calls print as JSON lines in OpenAI's
// shape (and in --json), tool results go back with /tool, bad tool files are clear errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"

namespace xervo::cli_test {
namespace {

std::string tool_file() {
  const auto path =
      std::filesystem::temp_directory_path() / ("xervo-cli-tool-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path)
      << R"({"type": "function", "function": {"name": "get_time", "description": "Time in a zone",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}},
                   "required": ["zone"]}}})";
  return path.string();
}

void expect_call_line(const std::string& line) {
  auto call = nlohmann::json::parse(line, nullptr, false);
  ASSERT_TRUE(call.is_object()) << line;
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_time");
  auto args = nlohmann::json::parse(call["function"]["arguments"].get<std::string>());
  EXPECT_TRUE(args["zone"] == "UTC" || args["zone"] == "CET") << line;
}

TEST(CliTools, GeneratePrintsTheCallAsJson) {
  const auto model = testing::test_model("generator").string();
  auto r = xervo({"generate", "-m", model, "--tool", tool_file(), "--tool-choice", "required", "--seed", "3",
                  "--max-tokens", "100", "What time is it?"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto line = r.out.substr(0, r.out.find('\n'));
  expect_call_line(line);
  auto j = xervo({"generate", "--json", "-m", model, "--tool", tool_file(), "--tool-choice", "get_time",
                  "--max-tokens", "100", "What time is it?"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto out = nlohmann::json::parse(j.out);
  EXPECT_EQ(out["finish_reason"], "tool_calls");
  ASSERT_FALSE(out["tool_calls"].empty());
  expect_call_line(out["tool_calls"][0].dump());
}

TEST(CliTools, ChatAnswersACallWithSlashTool) {
  const auto model = testing::test_model("generator").string();
  auto r = xervo_with_input({"chat", "-m", model, "--tool", tool_file(), "--tool-choice", "required",
                             "--stats", "--max-tokens", "60", "--seed", "1"},
                            "What time is it?\n/tool {\"time\": \"12:00\"}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Two answers, each a call (required); the second prompt holds the first call and its result.
  size_t lines = 0;
  for (size_t pos = 0, end; (end = r.out.find('\n', pos)) != std::string::npos; pos = end + 1) {
    const auto line = r.out.substr(pos, end - pos);
    if (line.rfind("{\"function\"", 0) == 0 || line.rfind("{\"id\"", 0) == 0) {
      expect_call_line(line);
      ++lines;
    }
  }
  EXPECT_GE(lines, 2u) << r.out;
}

TEST(CliTools, BadToolFilesAreClearErrors) {
  const auto model = testing::test_model("generator").string();
  const auto bad =
      std::filesystem::temp_directory_path() / ("xervo-cli-badtool-" + std::to_string(::getpid()) + ".json");
  std::ofstream(bad) << R"({"type": "function"})";
  auto r = xervo({"generate", "-m", model, "--tool", bad.string(), "hi"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(bad.string()), std::string::npos) << r.err;
  auto c = xervo({"generate", "-m", model, "--tool", tool_file(), "--tool-choice", "nope", "hi"});
  EXPECT_NE(c.exit_code, 0);
  EXPECT_NE(c.err.find("--tool-choice"), std::string::npos) << c.err;
}

}  // namespace
}  // namespace xervo::cli_test
