// `xervo embed` on the tiny generated embedder.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli_runner.h"

namespace xervo::cli_test {
namespace {

TEST(CliEmbed, PrintsOneVectorPerText) {
  auto r = xervo({"embed", "-m", testing::test_model("embedder").string(), "hello world", "second text"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  auto a = nlohmann::json::parse(lines[0]), b = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(b.size(), 64u);
  EXPECT_NE(a, b);
}

TEST(CliEmbed, JsonHasTheOpenAiEmbeddingsShape) {
  auto r = xervo({"embed", "--json", "-m", testing::test_model("embedder").string(), "one", "two", "three"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(j["data"][i]["index"], i);
    EXPECT_EQ(j["data"][i]["object"], "embedding");
    EXPECT_EQ(j["data"][i]["embedding"].size(), 64u);
  }
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
}

TEST(CliEmbed, ReadsTextsFromStdinAndMatchesArguments) {
  const auto model = testing::test_model("embedder").string();
  auto piped = xervo_with_input({"embed", "-m", model}, "hello world\nsecond text\n");
  auto args = xervo({"embed", "-m", model, "hello world", "second text"});
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(count_lines(piped.out), 2);
  EXPECT_EQ(piped.out, args.out);
}

TEST(CliEmbed, ResolvesAnAliasFromTheConfig) {
  TempConfig config("[models.\"embed/tiny\"]\ntask = \"embed\"\nprovider = \"llamacpp\"\nmodel = \"" +
                    testing::test_model("embedder").string() + "\"\n");
  auto r = xervo({"--config", config.path.string(), "embed", "--json", "-m", "embed/tiny", "hi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["data"].size(), 1u);
}

TEST(CliEmbed, MissingModelFileFailsWithOneLine) {
  auto r = xervo({"embed", "-m", "/nonexistent/model.gguf", "hello"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/model.gguf"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(CliEmbed, UnknownAliasFailsWithOneLine) {
  auto r = xervo({"embed", "-m", "no-such-alias", "hello"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("no-such-alias"), std::string::npos) << r.err;
}

TEST(CliEmbed, NoTextIsAnError) {
  auto r = xervo_with_input({"embed", "-m", testing::test_model("embedder").string()}, "");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no text"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace xervo::cli_test
