// `--demo` outside `xervo serve`: every task command and `status` get the demo aliases
// (embed/default, rerank/default, chat/default), their models generated under XERVO_HOME once.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_runner.h"

namespace xervo::cli_test {
namespace {

class CliDemo : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { home_ = new TempHome("demo"); }
  static void TearDownTestSuite() {
    delete home_;
    home_ = nullptr;
  }
  static std::vector<std::string> env() {
    return {"-u", "XERVO_CONFIG", "XERVO_HOME=" + home_->path.string()};
  }
  static TempHome* home_;
};
TempHome* CliDemo::home_ = nullptr;

TEST_F(CliDemo, EmbedUsesTheDemoEmbedder) {
  auto r =
      xervo_env(env(), {"embed", "--demo", "-m", "embed/default", "hello world"}, std::chrono::seconds(240));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  EXPECT_GT(nlohmann::json::parse(lines[0]).size(), 0u);
  // The flag may also come before the command.
  auto before = xervo_env(env(), {"--demo", "embed", "-m", "embed/default", "hello world"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_EQ(before.out, r.out);
}

TEST_F(CliDemo, RerankGenerateAndChatUseTheDemoModels) {
  auto rerank =
      xervo_env(env(), {"rerank", "--demo", "-m", "rerank/default", "-q", "greeting", "hello", "tax law"},
                std::chrono::seconds(240));
  ASSERT_EQ(rerank.exit_code, 0) << rerank.err;
  EXPECT_EQ(lines_of(rerank.out).size(), 2u) << rerank.out;
  auto generate = xervo_env(env(), {"generate", "--demo", "-m", "chat/default", "-n", "4", "Say hi"});
  ASSERT_EQ(generate.exit_code, 0) << generate.err;
  auto chat =
      xervo_env_with_input(env(), {"chat", "--demo", "-m", "chat/default", "-n", "4", "--stats"}, "hi\n");
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_NE(chat.err.find("generated"), std::string::npos) << chat.err;
}

TEST_F(CliDemo, StatusListsTheDemoAliasesAndOnlyWithTheFlag) {
  auto r = xervo_env(env(), {"status", "--demo"}, std::chrono::seconds(240));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* alias : {"embed/default", "rerank/default", "chat/default"})
    EXPECT_NE(r.out.find(alias), std::string::npos) << r.out;
  auto plain = xervo_env(env(), {"status"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out.find("embed/default"), std::string::npos) << plain.out;
  auto without = xervo_env(env(), {"embed", "-m", "embed/default", "hello"});
  EXPECT_NE(without.exit_code, 0);
  EXPECT_NE(without.err.find("alias_not_found"), std::string::npos) << without.err;
}

}  // namespace
}  // namespace xervo::cli_test
