// The llama.cpp provider's logprobs, n > 1, penalties and logit bias, end to end on a tiny model
// with random weights: logprobs are checked against llama.cpp's own logits for the same tokens
// (a direct context, outside xervo's scheduler), n = 3 against the scheduler's prompt counter.
#include <cmath>
#include <set>

#include "helpers.h"
#include "providers/llamacpp/llama_backend.h"
#include "providers/llamacpp/llama_handles.h"
#include "providers/llamacpp/task_models.h"
#include "providers/llamacpp/text.h"

namespace xervo::testing {
namespace {

class ChoicesAndLogprobs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    loaded_ = new LoadedModel(load_or_fail(ModelTask::generate, test_model("generator", "tiny"),
                                           {{"context_size", 256}, {"parallel", 4}}));
  }
  static void TearDownTestSuite() {
    delete loaded_;
    loaded_ = nullptr;
  }
  static GeneratorModel& model() { return *loaded_->generator; }
  static llamacpp::GenerationScheduler& scheduler() {
    return dynamic_cast<llamacpp::LlamaGenerator&>(model()).scheduler();
  }
  static GenerateRequest draw(uint64_t seed, int max_tokens = 12) {
    GenerateRequest r;
    r.prompt = "Once upon a time";
    r.options.max_tokens = max_tokens;
    r.options.temperature = 1.0f;
    r.options.top_k = 0;
    r.options.top_p = 1.0f;
    r.options.min_p = 0.0f;
    r.options.seed = seed;
    return r;
  }
  static GenerateRequest greedy(int max_tokens = 16) {
    GenerateRequest r = draw(0, max_tokens);
    r.options.temperature = 0;
    r.options.seed.reset();
    return r;
  }
  static std::string text(const GenerateRequest& r) {
    auto out = model().generate(r);
    EXPECT_TRUE(out.ok()) << out.error().to_string();
    return out.ok() ? out->text : "<failed>";
  }
  static LoadedModel* loaded_;
};
LoadedModel* ChoicesAndLogprobs::loaded_ = nullptr;

// log-softmax of every step's logits for `prompt` followed by `generated`, from a llama.cpp context
// of its own: what llama.cpp gives for each generated token at its step.
std::vector<std::vector<double>> reference_logprobs(const std::string& prompt,
                                                    const std::vector<int32_t>& generated) {
  llamacpp::ensure_backend();
  llamacpp::ModelPtr m(llama_model_load_from_file(test_model("generator", "tiny").string().c_str(),
                                                  llama_model_default_params()));
  auto cparams = llama_context_default_params();
  cparams.n_ctx = 256;
  cparams.n_batch = 256;
  cparams.n_threads = cparams.n_threads_batch = 1;
  llamacpp::ContextPtr ctx(llama_init_from_model(m.get(), cparams));
  const llama_vocab* vocab = llama_model_get_vocab(m.get());
  const int n_vocab = llama_vocab_n_tokens(vocab);
  auto tokens = llamacpp::tokenize(vocab, prompt, true, true);
  EXPECT_TRUE(tokens.ok());
  std::vector<std::vector<double>> out;
  llamacpp::Batch batch(256);
  llama_pos pos = 0;
  for (size_t i = 0; i < tokens->size(); ++i) batch.add((*tokens)[i], pos++, 0, i + 1 == tokens->size());
  for (int32_t next : generated) {
    EXPECT_EQ(llama_decode(ctx.get(), batch.get()), 0);
    const float* logits = llama_get_logits_ith(ctx.get(), batch.size() - 1);
    double max = logits[0], sum = 0;
    for (int t = 1; t < n_vocab; ++t) max = std::max<double>(max, logits[t]);
    for (int t = 0; t < n_vocab; ++t) sum += std::exp(logits[t] - max);
    std::vector<double> step(static_cast<size_t>(n_vocab));
    for (int t = 0; t < n_vocab; ++t) step[static_cast<size_t>(t)] = logits[t] - max - std::log(sum);
    out.push_back(std::move(step));
    batch.clear();
    batch.add(next, pos++, 0, true);
  }
  return out;
}

TEST_F(ChoicesAndLogprobs, GreedyTokensHaveLlamaCppsLogprobs) {
  ASSERT_TRUE(loaded_->generator);
  GenerateRequest r = greedy();
  r.options.logprobs = true;
  r.options.top_logprobs = 5;
  auto out = model().generate(r);
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  ASSERT_EQ(out->logprobs.size(), static_cast<size_t>(out->usage.completion_tokens));
  std::vector<int32_t> ids;
  std::string joined;
  for (const auto& lp : out->logprobs) {
    ids.push_back(lp.id);
    joined += lp.token;
  }
  EXPECT_EQ(joined, out->text);
  const auto reference = reference_logprobs(r.prompt, ids);
  ASSERT_EQ(reference.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto& step = reference[i];
    const auto& lp = out->logprobs[i];
    EXPECT_NEAR(lp.logprob, step[static_cast<size_t>(lp.id)], 1e-4) << "step " << i;
    // Greedy picks the most likely token: it leads the alternatives, which come best first.
    ASSERT_EQ(lp.top.size(), 5u);
    EXPECT_EQ(lp.top[0].id, lp.id);
    for (size_t k = 0; k < lp.top.size(); ++k) {
      EXPECT_NEAR(lp.top[k].logprob, step[static_cast<size_t>(lp.top[k].id)], 1e-4);
      if (k > 0) EXPECT_GE(lp.top[k - 1].logprob, lp.top[k].logprob);
    }
  }
}

TEST_F(ChoicesAndLogprobs, LogprobsAreTheModelsEvenWhenSamplingSettingsChangeTheDraw) {
  // Temperature and penalties change which token is drawn, not the probabilities reported.
  GenerateRequest r = draw(11);
  r.options.temperature = 1.7f;
  r.options.frequency_penalty = 1.0f;
  r.options.logprobs = true;
  auto out = model().generate(r);
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  std::vector<int32_t> ids;
  for (const auto& lp : out->logprobs) ids.push_back(lp.id);
  const auto reference = reference_logprobs(r.prompt, ids);
  for (size_t i = 0; i < ids.size(); ++i)
    EXPECT_NEAR(out->logprobs[i].logprob, reference[i][static_cast<size_t>(ids[i])], 1e-4) << "step " << i;
  EXPECT_TRUE(out->logprobs[0].top.empty());
}

TEST_F(ChoicesAndLogprobs, ThreeChoicesWithASeedDrawThreeTextsFromOnePromptEvaluation) {
  GenerateRequest r = draw(42);
  r.options.n = 3;
  const uint64_t evaluations = scheduler().prompt_evaluations();
  const uint64_t decoded = scheduler().prompt_tokens_decoded();
  auto out = model().generate(r);
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  EXPECT_EQ(scheduler().prompt_evaluations() - evaluations, 1u);
  EXPECT_LE(scheduler().prompt_tokens_decoded() - decoded, static_cast<uint64_t>(out->usage.prompt_tokens));
  ASSERT_EQ(out->choice_count(), 3u);
  std::set<std::string> texts;
  int64_t generated = 0;
  for (size_t i = 0; i < 3; ++i) texts.insert(out->choice(i).text);
  EXPECT_EQ(texts.size(), 3u);
  for (size_t i = 0; i < 3; ++i) generated += out->choice(i).finish_reason == FinishReason::length ? 12 : 0;
  EXPECT_GE(out->usage.completion_tokens, generated);
  // The first choice draws what n = 1 draws with the same seed; the same seed draws the same three.
  EXPECT_EQ(out->choice(0).text, text(draw(42)));
  auto again = model().generate(r);
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(again->choice(i).text, out->choice(i).text);
}

TEST_F(ChoicesAndLogprobs, MoreChoicesThanParallelSlotsIsRefused) {
  GenerateRequest r = draw(1);
  r.options.n = 5;
  auto out = model().generate(r);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code(), ErrorCode::invalid_input);
  EXPECT_NE(out.error().message().find("parallel"), std::string::npos) << out.error().message();
}

TEST_F(ChoicesAndLogprobs, StreamedDeltasCarryTheirChoiceAndLogprobs) {
  GenerateRequest r = draw(5);
  r.options.n = 2;
  r.options.logprobs = true;
  std::vector<std::string> streamed(2);
  std::vector<size_t> logprobs(2);
  auto out = model().generate_deltas(r, [&](const GenerateDelta& d) {
    streamed.at(static_cast<size_t>(d.choice)) += d.content;
    logprobs.at(static_cast<size_t>(d.choice)) += d.logprobs.size();
    return true;
  });
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(streamed[i], out->choice(i).text);
    EXPECT_EQ(logprobs[i], out->choice(i).logprobs.size());
  }
}

TEST_F(ChoicesAndLogprobs, PresenceAndFrequencyPenaltiesChangeTheGreedyText) {
  GenerateRequest r = greedy(32);  // a random model's greedy text repeats itself within this
  const std::string plain = text(r);
  r.options.presence_penalty = 2.0f;
  const std::string present = text(r);
  EXPECT_NE(present, plain);
  r.options.presence_penalty = 0;
  r.options.frequency_penalty = 2.0f;
  EXPECT_NE(text(r), plain);
  r.options.frequency_penalty = -2.0f;  // negative: repetition is encouraged, the text changes too
  EXPECT_NE(text(r), plain);
}

TEST_F(ChoicesAndLogprobs, LogitBiasBansAndForcesTokens) {
  GenerateRequest r = greedy(8);
  r.options.logprobs = true;
  auto plain = model().generate(r);
  ASSERT_TRUE(plain.ok());
  ASSERT_FALSE(plain->logprobs.empty());
  const int32_t first = plain->logprobs[0].id;
  r.options.logit_bias = {{first, -100.0f}};
  auto banned = model().generate(r);
  ASSERT_TRUE(banned.ok());
  for (const auto& lp : banned->logprobs) EXPECT_NE(lp.id, first);
  const int32_t forced = 300;  // an ordinary piece of the vocabulary
  r.options.logit_bias = {{forced, 100.0f}};
  auto pushed = model().generate(r);
  ASSERT_TRUE(pushed.ok());
  for (const auto& lp : pushed->logprobs) EXPECT_EQ(lp.id, forced);
}

TEST_F(ChoicesAndLogprobs, OutOfRangeOptionsAreRefused) {
  auto refused = [&](auto change) {
    GenerateRequest r = greedy(2);
    change(r.options);
    auto out = model().generate(r);
    return !out.ok() && out.error().code() == ErrorCode::invalid_input;
  };
  EXPECT_TRUE(refused([](GenerateOptions& o) { o.presence_penalty = 2.5f; }));
  EXPECT_TRUE(refused([](GenerateOptions& o) { o.frequency_penalty = -3.0f; }));
  EXPECT_TRUE(refused([](GenerateOptions& o) { o.logit_bias = {{-1, 1.0f}}; }));
  EXPECT_TRUE(refused([](GenerateOptions& o) { o.logit_bias = {{1 << 30, 1.0f}}; }));
  EXPECT_TRUE(refused([](GenerateOptions& o) { o.logit_bias = {{5, 101.0f}}; }));
  EXPECT_TRUE(refused([](GenerateOptions& o) { o.top_logprobs = 3; }));  // without logprobs
  EXPECT_TRUE(refused([](GenerateOptions& o) {
    o.logprobs = true;
    o.top_logprobs = 21;
  }));
  EXPECT_TRUE(refused([](GenerateOptions& o) { o.n = 0; }));
  EXPECT_TRUE(refused([](GenerateOptions& o) { o.n = 17; }));
}

}  // namespace
}  // namespace xervo::testing
