// Sampler's one-pass greedy and top-k shortcuts pick exactly the tokens llama.cpp's own sampler
// chain picks from the whole vocabulary (llama_sampler_sample), step after step, RNG included.
#include <gtest/gtest.h>

#include <set>

#include "helpers.h"
#include "providers/llamacpp/llama_backend.h"
#include "providers/llamacpp/sampling.h"
#include "providers/llamacpp/text.h"

namespace xervo::testing {
namespace {

using llamacpp::ContextPtr;
using llamacpp::ModelPtr;
using llamacpp::SamplerPtr;

// The chain Sampler::create describes, built from llama.cpp's API alone.
SamplerPtr reference_chain(const GenerateOptions& o) {
  SamplerPtr chain(llama_sampler_chain_init(llama_sampler_chain_default_params()));
  if (o.temperature == 0.0f) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
    return chain;
  }
  if (o.top_k > 0) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(o.top_k));
  if (o.top_p < 1.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(o.top_p, 1));
  if (o.min_p > 0.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_min_p(o.min_p, 1));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(o.temperature));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(llamacpp::draw_seed(*o.seed)));
  return chain;
}

class Sampling : public ::testing::Test {
 protected:
  void SetUp() override {
    llamacpp::ensure_backend();
    auto mparams = llama_model_default_params();
    model_.reset(llama_model_load_from_file(test_model("generator", "tiny").string().c_str(), mparams));
    ASSERT_TRUE(model_);
    auto cparams = llama_context_default_params();
    cparams.n_ctx = 256;
    cparams.n_batch = 256;
    cparams.n_threads = cparams.n_threads_batch = 1;
    ctx_.reset(llama_init_from_model(model_.get(), cparams));
    ASSERT_TRUE(ctx_);
  }

  // Generates `n` tokens from a prompt, sampling each step with both samplers from the same logits.
  void expect_same_tokens(const GenerateOptions& options, int n) {
    const llama_vocab* vocab = llama_model_get_vocab(model_.get());
    auto sampler = llamacpp::Sampler::create(vocab, options);
    ASSERT_TRUE(sampler.ok()) << sampler.error().to_string();
    SamplerPtr reference = reference_chain(options);
    auto prompt = llamacpp::tokenize(vocab, "Once upon a time there was", true, true);
    ASSERT_TRUE(prompt.ok());
    llama_memory_clear(llama_get_memory(ctx_.get()), true);
    llamacpp::Batch batch(256);
    llama_pos pos = 0;
    for (size_t i = 0; i < prompt->size(); ++i) batch.add((*prompt)[i], pos++, 0, i + 1 == prompt->size());
    std::vector<llama_token> ours, theirs;
    for (int step = 0; step < n; ++step) {
      ASSERT_EQ(llama_decode(ctx_.get(), batch.get()), 0);
      const int32_t last = batch.size() - 1;
      ours.push_back(sampler->sample(ctx_.get(), last));
      theirs.push_back(llama_sampler_sample(reference.get(), ctx_.get(), last));
      batch.clear();
      batch.add(ours.back(), pos++, 0, true);
    }
    EXPECT_EQ(ours, theirs);
  }

  ModelPtr model_;
  ContextPtr ctx_;
};

TEST_F(Sampling, GreedyShortcutPicksLlamaCppsToken) {
  GenerateOptions o;
  o.temperature = 0;
  expect_same_tokens(o, 32);
}

TEST_F(Sampling, TopKShortcutDrawsLlamaCppsTokensWithTheDefaults) {
  GenerateOptions o;  // temperature 0.8, top_k 40, top_p 0.95, min_p 0.05
  o.seed = 7;
  expect_same_tokens(o, 48);
}

TEST_F(Sampling, TopKShortcutDrawsLlamaCppsTokensAtHighTemperature) {
  GenerateOptions o;
  o.temperature = 1.7f;
  o.top_k = 200;
  o.top_p = 1.0f;
  o.min_p = 0.0f;
  o.seed = 12345;
  expect_same_tokens(o, 48);
}

TEST(DrawSeed, SeedsBelow2To32Minus1PassUnchanged) {
  EXPECT_EQ(llamacpp::draw_seed(0), 0u);
  EXPECT_EQ(llamacpp::draw_seed(1234), 1234u);
  EXPECT_EQ(llamacpp::draw_seed(0xFFFFFFFEull), 0xFFFFFFFEu);
}

TEST(DrawSeed, LargerSeedsUseAllTheirBitsAndNeverMeanRandom) {
  std::set<uint32_t> seen;
  for (int bit = 32; bit < 64; ++bit) seen.insert(llamacpp::draw_seed(uint64_t{1} << bit | 7));
  EXPECT_EQ(seen.size(), 32u);  // each high bit alone gives another seed
  for (uint64_t s : {uint64_t{0xFFFFFFFF}, ~uint64_t{0}, uint64_t{1} << 63}) {
    EXPECT_NE(llamacpp::draw_seed(s), LLAMA_DEFAULT_SEED) << s;  // llama.cpp reads that one as "random"
    EXPECT_EQ(llamacpp::draw_seed(s), llamacpp::draw_seed(s));
  }
}

}  // namespace
}  // namespace xervo::testing
