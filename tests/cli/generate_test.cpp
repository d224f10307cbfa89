// `xervo generate` on the tiny generated llama model.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_runner.h"
#include "process.h"

namespace xervo::cli_test {
namespace {

std::string generator() { return testing::test_model("generator").string(); }

nlohmann::json generate_json(std::vector<std::string> extra, const std::string& prompt = "Hello world") {
  std::vector<std::string> args = {"generate", "--json", "-m", generator()};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(prompt);
  auto r = xervo(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

TEST(CliGenerate, StreamsARawCompletion) {
  auto r =
      xervo({"generate", "-m", generator(), "--temperature", "0", "--max-tokens", "12", "Once upon a time"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(r.out.size(), 1u);
  EXPECT_EQ(r.out.back(), '\n');
  // The raw prompt is completed, not echoed.
  EXPECT_EQ(r.out.find("Once upon a time"), std::string::npos) << r.out;
}

TEST(CliGenerate, GreedyIsDeterministicAndJsonMatchesTheStream) {
  auto streamed =
      xervo({"generate", "-m", generator(), "--temperature", "0", "--max-tokens", "12", "Hello world"});
  auto a = generate_json({"--temperature", "0", "--max-tokens", "12"});
  auto b = generate_json({"--temperature", "0", "--max-tokens", "12"});
  ASSERT_TRUE(a.contains("text"));
  EXPECT_EQ(a["text"], b["text"]);
  std::string text = a["text"];
  if (text.empty() || text.back() != '\n') text += '\n';
  EXPECT_EQ(streamed.out, text);
}

TEST(CliGenerate, JsonReportsUsageAndFinishReason) {
  auto j = generate_json({"--temperature", "0", "--max-tokens", "5"});
  ASSERT_TRUE(j.contains("usage"));
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_LE(j["usage"]["completion_tokens"].get<int>(), 5);
  const std::string finish = j["finish_reason"];
  EXPECT_TRUE(finish == "length" || finish == "stop") << finish;
  if (finish == "length") {
    EXPECT_EQ(j["usage"]["completion_tokens"].get<int>(), 5);
  }
}

TEST(CliGenerate, SeedMakesSamplingReproducible) {
  auto a = generate_json({"--temperature", "1.0", "--seed", "1234", "--max-tokens", "16"});
  auto b = generate_json({"--temperature", "1.0", "--seed", "1234", "--max-tokens", "16"});
  EXPECT_EQ(a["text"], b["text"]);
}

TEST(CliGenerate, ChatAndSystemGoThroughTheTemplate) {
  auto raw = generate_json({"--temperature", "0", "--max-tokens", "2"}, "hi");
  auto chat = generate_json({"--chat", "--temperature", "0", "--max-tokens", "2"}, "hi");
  auto system = generate_json({"--system", "be brief", "--temperature", "0", "--max-tokens", "2"}, "hi");
  // ChatML wraps the prompt in role markers: many more prompt tokens than the raw text.
  EXPECT_GT(chat["usage"]["prompt_tokens"].get<int>(), raw["usage"]["prompt_tokens"].get<int>() + 5);
  EXPECT_GT(system["usage"]["prompt_tokens"].get<int>(), chat["usage"]["prompt_tokens"].get<int>());
}

TEST(CliGenerate, ReadsThePromptFromStdin) {
  auto piped = xervo_with_input(
      {"generate", "--json", "-m", generator(), "--temperature", "0", "--max-tokens", "4"}, "Hello world");
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  auto j = nlohmann::json::parse(piped.out);
  EXPECT_EQ(j["text"], generate_json({"--temperature", "0", "--max-tokens", "4"})["text"]);
}

TEST(CliGenerate, BadSchemaFileFailsWithOneLine) {
  const auto path =
      std::filesystem::temp_directory_path() / ("xervo-bad-schema-" + std::to_string(::getpid()));
  std::ofstream(path) << "{not json";
  auto r = xervo({"generate", "-m", generator(), "--json-schema", path.string(), "hi"});
  std::filesystem::remove(path);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(path.string()), std::string::npos) << r.err;
  auto missing = xervo({"generate", "-m", generator(), "--json-schema", "/nonexistent/schema.json", "hi"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("/nonexistent/schema.json"), std::string::npos) << missing.err;
}

TEST(CliGenerate, LogprobsPrintsEachTokenWithItsAlternatives) {
  auto r = xervo({"generate", "-m", generator(), "--temperature", "0", "--max-tokens", "4", "--logprobs", "2",
                  "Once upon a time"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // One line per generated token on stderr: its logprob, the token quoted, then two alternatives.
  size_t lines = 0;
  for (size_t pos = 0; (pos = r.err.find('\n', pos)) != std::string::npos; ++pos) ++lines;
  EXPECT_EQ(lines, 4u) << r.err;
  EXPECT_EQ(r.err[0], '-') << r.err;
  EXPECT_NE(r.err.find("  |"), std::string::npos) << r.err;
  auto j = generate_json({"--temperature", "0", "--max-tokens", "4", "--logprobs", "2"});
  ASSERT_EQ(j["logprobs"].size(), j["usage"]["completion_tokens"].get<size_t>()) << j.dump();
  std::string joined;
  for (const auto& t : j["logprobs"]) {
    joined += t["token"].get<std::string>();
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    ASSERT_EQ(t["top_logprobs"].size(), 2u);
    EXPECT_EQ(t["top_logprobs"][0]["token"], t["token"]);  // greedy picks the most likely
  }
  EXPECT_EQ(joined, j["text"]);
  auto bad = xervo({"generate", "-m", generator(), "--logprobs", "21", "hi"});
  EXPECT_NE(bad.exit_code, 0);
}

TEST(CliGenerate, BadSamplingFlagIsRejected) {
  auto r = xervo({"generate", "-m", generator(), "--top-p", "7", "hi"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(r.out.empty());
}

TEST(CliGenerate, CtrlCStopsTheGenerationCleanly) {
  // The small model is slow enough on a CPU that 1500 tokens take far longer than the interrupt.
  const auto model = testing::test_model("generator", "small").string();
  testing::ChildProcess child({XERVO_BIN, "generate", "-m", model, "--temperature", "1", "--seed", "3",
                               "--max-tokens", "1500", "--stats", "Once upon a time"});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (child.log().size() < 20 && child.running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(child.running()) << child.log();
  child.signal(SIGINT);
  auto code = child.wait(std::chrono::seconds(20));
  ASSERT_TRUE(code.has_value()) << "did not stop after SIGINT";
  EXPECT_EQ(*code, 130) << child.log();
  EXPECT_NE(child.log().find("generation cancelled"), std::string::npos) << child.log();
}

}  // namespace
}  // namespace xervo::cli_test
