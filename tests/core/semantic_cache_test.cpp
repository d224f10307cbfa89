// SemanticCache and SemanticLookup: nearest prompt above the threshold within one bucket only,
// least-recently-used eviction within max_entries, an answer the response cache dropped is a miss
// and is forgotten, an embedder failure is a counted miss, and many threads at once stay in bounds.
#include "core/semantic_cache.h"

#include <gtest/gtest.h>

#include <thread>

namespace xervo {
namespace {

using Digest = SemanticCache::Digest;

Digest d(const std::string& s) { return ResponseCache::digest(s); }

TEST(SemanticCache, NearestAboveTheThresholdInTheSameBucketOnly) {
  SemanticCache cache(10);
  cache.insert(d("bucket"), std::vector<float>{1, 0, 0}, d("answer-x"));
  cache.insert(d("bucket"), std::vector<float>{0, 1, 0}, d("answer-y"));
  auto hit = cache.nearest(d("bucket"), std::vector<float>{2, 0.2f, 0}, 0.95f);  // not normalised
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->answer, d("answer-x"));
  EXPECT_NEAR(hit->similarity, 0.995f, 1e-3);
  EXPECT_FALSE(cache.nearest(d("bucket"), std::vector<float>{1, 1, 0}, 0.95f));  // 0.707 to both
  EXPECT_FALSE(cache.nearest(d("other bucket"), std::vector<float>{1, 0, 0}, 0.5f));
  EXPECT_FALSE(cache.nearest(d("bucket"), std::vector<float>{0, 0, 0}, 0.5f));  // no direction
  EXPECT_TRUE(cache.nearest(d("bucket"), std::vector<float>{1, 0, 0}, 1.0f));   // threshold 1: same vector
}

TEST(SemanticCache, EvictsTheLeastRecentlyUsedPastMaxEntries) {
  SemanticCache cache(3);
  cache.insert(d("b"), std::vector<float>{1, 0, 0, 0}, d("a1"));
  cache.insert(d("b"), std::vector<float>{0, 1, 0, 0}, d("a2"));
  cache.insert(d("b"), std::vector<float>{0, 0, 1, 0}, d("a3"));
  ASSERT_TRUE(cache.nearest(d("b"), std::vector<float>{1, 0, 0, 0}, 0.9f));  // a1 used: a2 is oldest now
  cache.insert(d("b"), std::vector<float>{0, 0, 0, 1}, d("a4"));
  EXPECT_EQ(cache.stats().entries, 3u);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_FALSE(cache.nearest(d("b"), std::vector<float>{0, 1, 0, 0}, 0.9f));
  EXPECT_TRUE(cache.nearest(d("b"), std::vector<float>{1, 0, 0, 0}, 0.9f));
  EXPECT_TRUE(cache.nearest(d("b"), std::vector<float>{0, 0, 0, 1}, 0.9f));

  cache.set_max_entries(1);
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(cache.stats().evictions, 3u);
  cache.clear();
  EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(SemanticCache, TheSameAnswerAgainReplacesItsEntry) {
  SemanticCache cache(10);
  cache.insert(d("b"), std::vector<float>{1, 0}, d("a"));
  cache.insert(d("b"), std::vector<float>{0, 1}, d("a"));
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_FALSE(cache.nearest(d("b"), std::vector<float>{1, 0}, 0.9f));
  EXPECT_TRUE(cache.nearest(d("b"), std::vector<float>{0, 1}, 0.9f));
}

TEST(SemanticCache, ManyThreadsStayWithinMaxEntries) {
  SemanticCache cache(64, /*flat_limit=*/16);  // the graph too
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&cache, t] {
      for (int i = 0; i < 500; ++i) {
        std::vector<float> v(8, 0.01f);
        v[(t + i) % 8] = 1;
        v[i % 8] += 0.5f;
        cache.insert(d("b" + std::to_string(i % 3)), v, d(std::to_string(t) + "/" + std::to_string(i)));
        (void)cache.nearest(d("b" + std::to_string(i % 3)), v, 0.9f);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(cache.stats().entries, 64u);
  EXPECT_GT(cache.stats().evictions, 0u);
}

// SemanticLookup over a real ResponseCache (memory tier) and a scripted embedder.
class Lookup : public ::testing::Test {
 protected:
  Lookup()
      : answers([] {
          CacheOptions o;
          o.enabled = true;
          o.disk_bytes = 0;
          return o;
        }()) {
    hook.cache = std::make_shared<SemanticCache>(100);
    hook.alias = "chat/x";
    hook.embed_alias = "embed/x";
    hook.threshold = 0.9f;
    hook.embed = [this](const std::string& text, const CachePolicy&,
                        std::stop_token) -> Result<PromptVector> {
      ++embeds;
      if (text == "broken") return Error(ErrorCode::unavailable, "embedder down");
      if (text == "long") return Error(ErrorCode::context_overflow, "too long");
      std::vector<float> v = {0, 0, 0};
      v[text.size() % 3] = 1;  // texts of equal length mod 3 mean "the same"
      return PromptVector{v, "embedder-1"};
    };
  }
  SemanticLookup lookup(const std::string& text, const std::string& rest = "rest") {
    return SemanticLookup(&hook, text, rest, CachePolicy{}, {});
  }

  ResponseCache answers;
  SemanticHook hook;
  int embeds = 0;
};

TEST_F(Lookup, AClosePromptGetsTheStoredAnswer) {
  answers.put(d("key-abc"), "the answer");
  auto first = lookup("abc");
  double sim = 0;
  EXPECT_FALSE(first.find(answers, &sim));
  first.remember(d("key-abc"));
  EXPECT_EQ(embeds, 1);  // find and remember share one embedding

  auto second = lookup("xyz");
  auto value = second.find(answers, &sim);
  ASSERT_TRUE(value);
  EXPECT_EQ(*value, "the answer");
  EXPECT_NEAR(sim, 1.0, 1e-6);
  EXPECT_FALSE(lookup("xyzw").find(answers, &sim));               // another direction
  EXPECT_FALSE(lookup("xyz", "other rest").find(answers, &sim));  // another bucket
  auto s = hook.cache->stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.errors, 0u);
}

TEST_F(Lookup, AnEmbedderFailureIsACountedMissAndALongPromptAPlainOne) {
  double sim = 0;
  auto broken = lookup("broken");
  EXPECT_FALSE(broken.find(answers, &sim));
  broken.remember(d("k"));  // nothing kept, no second try
  EXPECT_EQ(embeds, 1);
  EXPECT_FALSE(lookup("long").find(answers, &sim));
  auto s = hook.cache->stats();
  EXPECT_EQ(s.errors, 1u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.entries, 0u);
}

TEST_F(Lookup, AnAnswerTheResponseCacheDroppedIsAMissAndIsForgotten) {
  lookup("abc").remember(d("never stored"));
  ASSERT_EQ(hook.cache->stats().entries, 1u);
  double sim = 0;
  EXPECT_FALSE(lookup("xyz").find(answers, &sim));
  EXPECT_EQ(hook.cache->stats().entries, 0u);
  EXPECT_EQ(hook.cache->stats().evictions, 1u);
}

TEST_F(Lookup, NoHookOrNoTextIsInactive) {
  EXPECT_FALSE(SemanticLookup(nullptr, "abc", "rest", CachePolicy{}, {}).active());
  EXPECT_FALSE(lookup("").active());
  EXPECT_TRUE(lookup("abc").active());
}

}  // namespace
}  // namespace xervo
