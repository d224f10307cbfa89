// `xervo rerank` on the tiny generated reranker.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "cli_runner.h"

namespace xervo::cli_test {
namespace {

const std::vector<std::string> kDocs = {"a cat is an animal", "stocks fell today", "cats purr when happy"};

std::vector<std::string> rerank_args(std::vector<std::string> extra) {
  std::vector<std::string> args = {"rerank", "-m", testing::test_model("reranker").string(), "-q",
                                   "what is a cat"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.insert(args.end(), kDocs.begin(), kDocs.end());
  return args;
}

TEST(CliRerank, RanksEveryDocumentOnceBestFirst) {
  auto r = xervo(rerank_args({"--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["results"].size(), 3u);
  std::set<size_t> seen;
  double previous = 1e300;
  for (const auto& item : j["results"]) {
    const size_t index = item["index"];
    seen.insert(index);
    EXPECT_EQ(item["document"]["text"], kDocs.at(index));
    EXPECT_LE(item["relevance_score"].get<double>(), previous);
    previous = item["relevance_score"];
  }
  EXPECT_EQ(seen.size(), 3u);
}

TEST(CliRerank, PlainOutputHasRankScoreAndDocument) {
  auto r = xervo(rerank_args({}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].substr(0, 2), "1\t");
  EXPECT_EQ(lines[2].substr(0, 2), "3\t");
}

TEST(CliRerank, TopNKeepsTheBest) {
  auto all = nlohmann::json::parse(xervo(rerank_args({"--json"})).out);
  auto r = xervo(rerank_args({"--json", "--top-n", "1"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto top = nlohmann::json::parse(r.out);
  ASSERT_EQ(top["results"].size(), 1u);
  EXPECT_EQ(top["results"][0]["index"], all["results"][0]["index"]);
}

TEST(CliRerank, QueryIsRequired) {
  auto r = xervo({"rerank", "-m", testing::test_model("reranker").string(), "doc"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("query"), std::string::npos) << r.err;
}

TEST(CliRerank, EmbedderFileIsNotAReranker) {
  auto r = xervo({"rerank", "-m", testing::test_model("embedder").string(), "-q", "q", "doc"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

}  // namespace
}  // namespace xervo::cli_test
