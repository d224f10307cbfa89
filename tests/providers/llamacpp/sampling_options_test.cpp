// Every sampling option set on a GenerateRequest changes what the sampler draws, on a tiny model
// with random weights (its next-token distribution is wide, so different draws give different
// texts within a few tokens). An option dropped on its way to the sampler fails one of these.
#include <set>

#include "helpers.h"

namespace xervo::testing {
namespace {

class SamplingOptions : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    loaded_ = new LoadedModel(load_or_fail(ModelTask::generate, test_model("generator", "tiny"),
                                           {{"context_size", 256}, {"parallel", 2}}));
  }
  static void TearDownTestSuite() {
    delete loaded_;
    loaded_ = nullptr;
  }
  // A plain draw: every filter off, so only the temperature and the seed decide.
  static GenerateRequest draw(uint64_t seed, float temperature = 1.0f) {
    GenerateRequest r;
    r.prompt = "Once upon a time";
    r.options.max_tokens = 12;
    r.options.temperature = temperature;
    r.options.top_k = 0;
    r.options.top_p = 1.0f;
    r.options.min_p = 0.0f;
    r.options.seed = seed;
    return r;
  }
  static std::string text(const GenerateRequest& r) {
    auto out = loaded_->generator->generate(r);
    EXPECT_TRUE(out.ok()) << out.error().to_string();
    return out.ok() ? out->text : "<failed>";
  }
  static std::string greedy_text() {
    GenerateRequest r = draw(0, 0.0f);
    r.options.seed.reset();
    return text(r);
  }
  static LoadedModel* loaded_;
};
LoadedModel* SamplingOptions::loaded_ = nullptr;

TEST_F(SamplingOptions, TheSameSeedDrawsTheSameTextAndOtherSeedsDrawOthers) {
  ASSERT_TRUE(loaded_->generator);
  EXPECT_EQ(text(draw(1)), text(draw(1)));
  std::set<std::string> texts;
  for (uint64_t seed = 1; seed <= 4; ++seed) texts.insert(text(draw(seed)));
  EXPECT_EQ(texts.size(), 4u);
}

TEST_F(SamplingOptions, SeedsThatDifferOnlyInTheirHighBitsDrawDifferentTexts) {
  const uint64_t low = 7;
  std::set<std::string> texts = {text(draw(low)), text(draw(low | (uint64_t{1} << 32))),
                                 text(draw(low | (uint64_t{1} << 63))), text(draw(~uint64_t{0}))};
  EXPECT_EQ(texts.size(), 4u);
  EXPECT_EQ(text(draw(low | (uint64_t{1} << 63))), text(draw(low | (uint64_t{1} << 63))));
}

TEST_F(SamplingOptions, UnsetSeedDrawsDifferentTextsEachTime) {
  GenerateRequest r = draw(0);
  r.options.seed.reset();
  std::set<std::string> texts;
  for (int i = 0; i < 3; ++i) texts.insert(text(r));
  EXPECT_EQ(texts.size(), 3u);
}

TEST_F(SamplingOptions, TemperatureShapesTheDraw) {
  const std::string greedy = greedy_text();
  EXPECT_NE(text(draw(3, 1.0f)), greedy);
  EXPECT_NE(text(draw(3, 1.0f)), text(draw(3, 1.5f)));  // same seed, another distribution
  EXPECT_EQ(text(draw(3, 0.001f)), greedy);             // all the mass on the top token
}

TEST_F(SamplingOptions, TopKOfOneDrawsTheGreedyText) {
  auto r = draw(3, 1.5f);
  ASSERT_NE(text(r), greedy_text());
  r.options.top_k = 1;
  EXPECT_EQ(text(r), greedy_text());
  r.options.top_k = 2;
  EXPECT_NE(text(r), greedy_text());
}

TEST_F(SamplingOptions, ATinyTopPDrawsTheGreedyText) {
  auto r = draw(3, 1.5f);
  r.options.top_p = 1e-6f;
  EXPECT_EQ(text(r), greedy_text());
}

TEST_F(SamplingOptions, MinPOfOneDrawsTheGreedyText) {
  auto r = draw(3, 1.5f);
  r.options.min_p = 1.0f;
  EXPECT_EQ(text(r), greedy_text());
}

TEST_F(SamplingOptions, RepeatPenaltyChangesTheGreedyText) {
  auto r = draw(0, 0.0f);
  r.options.max_tokens = 32;  // a random model's greedy text repeats itself within this
  const std::string plain = text(r);
  r.options.repeat_penalty = 2.0f;
  EXPECT_NE(text(r), plain);
}

TEST_F(SamplingOptions, StopAndMaxTokensBoundTheDraw) {
  auto r = draw(5);
  auto full = loaded_->generator->generate(r);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->usage.completion_tokens, 12);
  r.options.max_tokens = 3;
  auto short_one = loaded_->generator->generate(r);
  ASSERT_TRUE(short_one.ok());
  EXPECT_EQ(short_one->usage.completion_tokens, 3);
  EXPECT_EQ(full->text.rfind(short_one->text, 0), 0u) << "the same seed draws the same first tokens";
}

}  // namespace
}  // namespace xervo::testing
