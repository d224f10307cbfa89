#include <thread>

#include "helpers.h"

namespace xervo::testing {
namespace {

class Rerank : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    loaded_ = new LoadedModel(load_or_fail(ModelTask::rerank, test_model("reranker", "tiny")));
  }
  static void TearDownTestSuite() {
    delete loaded_;
    loaded_ = nullptr;
  }
  RerankerModel& model() { return *loaded_->reranker; }
  static LoadedModel* loaded_;
};
LoadedModel* Rerank::loaded_ = nullptr;

const std::vector<std::string> kDocs = {"Paris is the capital of France.", "Bananas are yellow.",
                                        "The Eiffel tower is in Paris.", "Quantum chromodynamics",
                                        "A recipe for pancakes with maple syrup"};

TEST_F(Rerank, ScoresEveryDocumentSortedWithOriginalIndices) {
  ASSERT_TRUE(loaded_->reranker);
  auto r = model().rerank("What is the capital of France?", kDocs);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->results.size(), kDocs.size());
  std::vector<bool> seen(kDocs.size());
  for (size_t i = 0; i < r->results.size(); ++i) {
    ASSERT_LT(r->results[i].index, kDocs.size());
    seen[r->results[i].index] = true;
    if (i > 0) {
      EXPECT_GE(r->results[i - 1].score, r->results[i].score);
    }
  }
  for (bool s : seen) EXPECT_TRUE(s);
  EXPECT_NE(r->results.front().score, r->results.back().score);
  EXPECT_GT(r->usage.prompt_tokens, static_cast<int64_t>(kDocs.size()));
  EXPECT_EQ(loaded_->info["pooling"], "rank");
}

TEST_F(Rerank, EachScoreEqualsTheDocumentScoredAlone) {
  const std::string query = "capital of France";
  auto all = model().rerank(query, kDocs);
  ASSERT_TRUE(all.ok());
  for (const auto& res : all->results) {
    auto one = model().rerank(query, std::span<const std::string>(&kDocs[res.index], 1));
    ASSERT_TRUE(one.ok());
    EXPECT_NEAR(one->results[0].score, res.score, 1e-4) << "document " << res.index;
  }
}

TEST_F(Rerank, TopNKeepsTheBest) {
  auto all = model().rerank("fruit", kDocs);
  auto top = model().rerank("fruit", kDocs, 2);
  ASSERT_TRUE(all.ok() && top.ok());
  ASSERT_EQ(top->results.size(), 2u);
  EXPECT_EQ(top->results[0].index, all->results[0].index);
  EXPECT_EQ(top->results[1].index, all->results[1].index);
  auto zero = model().rerank("fruit", kDocs, 0);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().code(), ErrorCode::invalid_input);
}

TEST_F(Rerank, ConcurrentCallersGetTheirOwnScores) {
  auto solo = model().rerank("tower", kDocs);
  ASSERT_TRUE(solo.ok());
  std::vector<Result<Reranking>> got(6, Error(ErrorCode::internal, "not run"));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t)
    threads.emplace_back([&, t] { got[t] = model().rerank(t % 2 ? "tower" : "pancakes", kDocs); });
  for (auto& th : threads) th.join();
  for (size_t t = 1; t < got.size(); t += 2) {
    ASSERT_TRUE(got[t].ok());
    for (size_t i = 0; i < kDocs.size(); ++i) {
      EXPECT_EQ(got[t]->results[i].index, solo->results[i].index);
      EXPECT_NEAR(got[t]->results[i].score, solo->results[i].score, 1e-4);
    }
  }
}

TEST_F(Rerank, OverlongPairIsContextOverflow) {
  std::string doc;
  for (int i = 0; i < 2000; ++i) doc += "long ";
  const std::vector<std::string> docs = {"short", doc};
  auto r = model().rerank("q", docs);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::context_overflow);
  EXPECT_NE(r.error().message().find("document 1"), std::string::npos) << r.error().message();
}

TEST(RerankingOptions, TruncateCutsTheDocument) {
  auto loaded = load_or_fail(ModelTask::rerank, test_model("reranker"), {{"truncate", true}});
  ASSERT_TRUE(loaded.reranker);
  std::string doc;
  for (int i = 0; i < 2000; ++i) doc += "long ";
  const std::vector<std::string> docs = {doc};
  auto r = loaded.reranker->rerank("q", docs);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->usage.prompt_tokens, loaded.info["n_ctx"].get<int>());
}

}  // namespace
}  // namespace xervo::testing
