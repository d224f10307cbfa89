// GenerationScheduler with n sequences per request and with logprobs, against the scripted engine
// (fake_engine.h): the prompt is evaluated once and copied, each sequence draws with its own
// sampler, and a token's logprob travels with its text.
#include <gtest/gtest.h>

#include <future>

#include "fake_engine.h"
#include "lane_hold.h"
#include "providers/llamacpp/scheduler.h"
#include "wait_until.h"

namespace xervo::llamacpp::testing {
namespace {

using xervo::testing::LaneHold;
using xervo::testing::wait_until;

class ChoicesScheduling : public ::testing::Test {
 protected:
  void start(int slots) {
    log_ = std::make_shared<EngineLog>();
    auto engine = std::make_unique<FakeEngine>(log_, 64);
    engine_ = engine.get();
    SchedulerConfig config{"fake.gguf", 64, slots, 1 << 30, 64};
    scheduler_ = std::make_unique<GenerationScheduler>(std::move(engine), config, lane_);
  }
  // Sequence i draws the engine's next token plus 10 * i.
  GenerationJob job(Tokens prompt, int max_tokens, int n, bool logprobs = false,
                    std::vector<std::string> stops = {}) {
    GenerationJob j;
    j.prompt = std::move(prompt);
    j.sampler = std::make_unique<FakeSampler>(engine_, 0, logprobs);
    for (int i = 1; i < n; ++i)
      j.siblings.push_back(std::make_unique<FakeSampler>(engine_, 10 * i, logprobs));
    j.max_tokens = max_tokens;
    j.stops = std::move(stops);
    return j;
  }

  std::shared_ptr<ComputeLane> lane_ = std::make_shared<ComputeLane>();
  std::shared_ptr<EngineLog> log_;
  FakeEngine* engine_ = nullptr;
  std::unique_ptr<GenerationScheduler> scheduler_;
};

TEST_F(ChoicesScheduling, ThreeSequencesEvaluateThePromptOnceAndCopyIt) {
  start(/*slots=*/4);
  auto r = scheduler_->run(job({1, 2, 3, 100}, 3, 3), DeltaCallback{}, {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->choice_count(), 3u);
  // The first token of each comes from the prompt's logits (101), each sampler adding its offset.
  EXPECT_EQ(r->choice(0).text, "101 102 103 ");
  EXPECT_EQ(r->choice(1).text, "111 122 133 ");
  EXPECT_EQ(r->choice(2).text, "121 142 163 ");
  EXPECT_EQ(r->usage.prompt_tokens, 4);
  EXPECT_EQ(r->usage.completion_tokens, 9);
  EXPECT_EQ(scheduler_->prompt_evaluations(), 1u);
  EXPECT_EQ(scheduler_->prompt_tokens_decoded(), 4u);
  std::lock_guard lk(log_->mu);
  ASSERT_GE(log_->decodes.size(), 2u);
  const auto& prompt_batch = log_->decodes[0];
  ASSERT_EQ(prompt_batch.size(), 4u);  // the prompt, in one sequence only
  for (const auto& e : prompt_batch) EXPECT_EQ(e.seq, prompt_batch[0].seq);
  ASSERT_EQ(log_->copies.size(), 2u);  // into the other two sequences
  std::set<SeqId> seqs = {prompt_batch[0].seq};
  for (const auto& [from, to] : log_->copies) {
    EXPECT_EQ(from, prompt_batch[0].seq);
    seqs.insert(to);
  }
  EXPECT_EQ(seqs.size(), 3u);
  const auto& second = log_->decodes[1];  // each sequence's first token, at the position after the prompt
  ASSERT_EQ(second.size(), 3u);
  for (const auto& e : second) EXPECT_EQ(e.pos, 4);
}

TEST_F(ChoicesScheduling, StreamedDeltasNameTheirSequence) {
  start(/*slots=*/2);
  std::vector<std::string> streamed(2);
  auto r = scheduler_->run(job({100}, 4, 2), DeltaCallback([&](const GenerateDelta& d) {
                             streamed.at(static_cast<size_t>(d.choice)) += d.content;
                             return true;
                           }),
                           {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(streamed[0], r->choice(0).text);
  EXPECT_EQ(streamed[1], r->choice(1).text);
  EXPECT_NE(streamed[0], streamed[1]);
}

TEST_F(ChoicesScheduling, MoreSequencesThanSlotsIsRefused) {
  start(/*slots=*/2);
  auto r = scheduler_->run(job({100}, 2, 3), DeltaCallback{}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::invalid_input);
  EXPECT_NE(r.error().message().find("parallel"), std::string::npos) << r.error().message();
  EXPECT_EQ(log_->decode_count(), 0u);
}

TEST_F(ChoicesScheduling, ARequestWaitsUntilItHasASlotForEachSequence) {
  start(/*slots=*/2);
  std::future<Result<GenerateResult>> single, pair;
  {
    LaneHold hold(lane_);
    auto a = std::make_shared<GenerationJob>(job({100}, 3, 1));
    auto b = std::make_shared<GenerationJob>(job({200}, 3, 2));
    single = std::async(std::launch::async,
                        [&, a] { return scheduler_->run(std::move(*a), DeltaCallback{}, {}); });
    ASSERT_TRUE(wait_until([&] { return scheduler_->waiting() == 1; }));
    pair = std::async(std::launch::async,
                      [&, b] { return scheduler_->run(std::move(*b), DeltaCallback{}, {}); });
    ASSERT_TRUE(wait_until([&] { return scheduler_->waiting() == 2; }));
  }
  auto rs = single.get(), rp = pair.get();
  ASSERT_TRUE(rs.ok() && rp.ok());
  EXPECT_EQ(rp->choice(0).text, "201 202 203 ");
  EXPECT_EQ(rp->choice(1).text, "211 222 233 ");
  std::lock_guard lk(log_->mu);
  for (const auto& batch : log_->decodes) {  // never the pair's prompt beside the single's stream
    bool has_single = false, has_pair_prompt = false;
    for (const auto& e : batch) {
      has_single = has_single || (e.token >= 100 && e.token < 200);
      has_pair_prompt = has_pair_prompt || e.token == 200;
    }
    EXPECT_FALSE(has_single && has_pair_prompt);
  }
}

TEST_F(ChoicesScheduling, EachDeltaCarriesTheLogprobsOfTheTextItCompletes) {
  start(/*slots=*/1);
  // "102 x" holds "102 " back until "103 " shows it is text; "105" stops before "105 ".
  std::string content, covered;
  auto r =
      scheduler_->run(job({100}, 10, 1, true, {"102 x", "105"}), DeltaCallback([&](const GenerateDelta& d) {
                        content += d.content;
                        for (const auto& lp : d.logprobs) covered += lp.token;
                        EXPECT_EQ(covered, content) << "logprobs ahead of or behind their text";
                        return true;
                      }),
                      {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->text, "101 102 103 104 ");
  ASSERT_EQ(r->logprobs.size(), 4u);  // 105, the stop string, is not reported
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r->logprobs[i].id, static_cast<Token>(101 + i));
    EXPECT_DOUBLE_EQ(r->logprobs[i].logprob, -(101.0 + i) / 1000.0);
  }
  EXPECT_EQ(r->usage.completion_tokens, 5);
}

TEST_F(ChoicesScheduling, CancellingARequestEndsAllItsSequences) {
  start(/*slots=*/3);
  std::stop_source stop;
  auto r = scheduler_->run(job({100}, 1 << 20, 3), DeltaCallback([&](const GenerateDelta& d) {
                             if (d.choice == 2) stop.request_stop();
                             return true;
                           }),
                           stop.get_token());
  ASSERT_TRUE(r.ok());
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(r->choice(i).finish_reason, FinishReason::cancelled);
  auto next = scheduler_->run(job({300}, 2, 3), DeltaCallback{}, {});  // every slot is free again
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->choice(2).text, "321 342 ");
}

}  // namespace
}  // namespace xervo::llamacpp::testing
