// `xervo chat` driven through a pipe.
#include <gtest/gtest.h>

#include <regex>

#include "cli_runner.h"

namespace xervo::cli_test {
namespace {

// "[N prompt tokens, M generated ..." lines of --stats, one per answered turn.
std::vector<std::pair<int, int>> turn_stats(const std::string& err) {
  std::vector<std::pair<int, int>> stats;
  std::regex line(R"(\[(\d+) prompt tokens, (\d+) generated)");
  for (std::sregex_iterator it(err.begin(), err.end(), line), end; it != end; ++it)
    stats.emplace_back(std::stoi((*it)[1]), std::stoi((*it)[2]));
  return stats;
}

std::vector<std::string> chat_args() {
  return {"chat", "-m",     testing::test_model("generator").string(), "--temperature", "0", "--max-tokens",
          "6",    "--stats"};
}

TEST(CliChat, PipedTurnsAreAnsweredAndKeptInHistory) {
  auto r = xervo_with_input(chat_args(), "hello there\nand a second question\n/exit\nnot read\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto stats = turn_stats(r.err);
  ASSERT_EQ(stats.size(), 2u) << r.err;
  // The second prompt holds the first turn (question and answer) plus the new question.
  EXPECT_GT(stats[1].first, stats[0].first + stats[0].second);
}

TEST(CliChat, ResetForgetsTheHistory) {
  auto r = xervo_with_input(chat_args(), "hello there\n/reset\nhello there\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto stats = turn_stats(r.err);
  ASSERT_EQ(stats.size(), 2u) << r.err;
  EXPECT_EQ(stats[1].first, stats[0].first);
}

TEST(CliChat, EndOfInputEndsTheChat) {
  auto r = xervo_with_input(chat_args(), "", std::chrono::seconds(60));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(CliChat, SystemMessageCountsInThePrompt) {
  auto plain = turn_stats(xervo_with_input(chat_args(), "hi\n").err);
  auto args = chat_args();
  args.insert(args.end(), {"--system", "You answer in one word."});
  auto with_system = turn_stats(xervo_with_input(args, "hi\n").err);
  ASSERT_EQ(plain.size(), 1u);
  ASSERT_EQ(with_system.size(), 1u);
  EXPECT_GT(with_system[0].first, plain[0].first);
}

}  // namespace
}  // namespace xervo::cli_test
