// GenerationScheduler against a scripted engine (fake_engine.h): every schedule is exact, so each
// test states what the scheduler must do and fails when it does not. Events are ordered with
// latches, promises, a held lane (LaneHold) and the engine's decode hook, never with sleeps.
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <future>
#include <latch>
#include <set>

#include "fake_engine.h"
#include "lane_hold.h"
#include "providers/llamacpp/scheduler.h"
#include "wait_until.h"

namespace xervo::llamacpp::testing {
namespace {

using namespace std::chrono_literals;
using xervo::testing::LaneHold;
using xervo::testing::wait_until;

// "101 102 103 " for a prompt ending in 100 and 3 tokens.
std::string text_after(Token last, int n) {
  std::string s;
  for (int i = 1; i <= n; ++i) s += std::to_string(last + i) + " ";
  return s;
}

class GenerationScheduling : public ::testing::Test {
 protected:
  void start(int slots, int queue_limit = 64, int n_batch = 64) {
    log_ = std::make_shared<EngineLog>();
    auto engine = std::make_unique<FakeEngine>(log_, n_batch);
    engine_ = engine.get();
    SchedulerConfig config{"fake.gguf", n_batch, slots, 1 << 30, queue_limit};
    scheduler_ = std::make_unique<GenerationScheduler>(std::move(engine), config, lane_);
  }
  GenerationJob job(Tokens prompt, int max_tokens) {
    GenerationJob j;
    j.prompt = std::move(prompt);
    j.sampler = std::make_unique<FakeSampler>(engine_);
    j.max_tokens = max_tokens;
    return j;
  }
  Result<GenerateResult> run(Tokens prompt, int max_tokens, std::stop_token cancel = {},
                             TokenCallback on_piece = {}) {
    return scheduler_->run(job(std::move(prompt), max_tokens), on_piece, cancel);
  }
  // The same on another thread; the fixture waits for it (after unloading the scheduler, which
  // ends whatever is left) so a failing test never hangs.
  std::future<Result<GenerateResult>>& submit(Tokens prompt, int max_tokens, std::stop_token cancel = {},
                                              TokenCallback on_piece = {}) {
    auto j = std::make_shared<GenerationJob>(job(std::move(prompt), max_tokens));
    calls_.push_back(std::async(std::launch::async, [this, j, cancel, on_piece] {
      return scheduler_->run(std::move(*j), on_piece, cancel);
    }));
    return calls_.back();
  }
  static bool ready(std::future<Result<GenerateResult>>& f) {
    return f.wait_for(30s) == std::future_status::ready;
  }
  void set_hook(std::function<int32_t(const std::vector<BatchEntry>&)> hook) {
    std::lock_guard lk(log_->mu);
    log_->on_decode = std::move(hook);
  }

  std::shared_ptr<ComputeLane> lane_ = std::make_shared<ComputeLane>();
  std::shared_ptr<EngineLog> log_;
  FakeEngine* engine_ = nullptr;
  std::deque<std::future<Result<GenerateResult>>> calls_;  // destroyed after the scheduler
  std::unique_ptr<GenerationScheduler> scheduler_;
};

// A callback that counts `latch` down at its first piece.
TokenCallback on_first_piece(std::latch& latch) {
  auto fired = std::make_shared<std::atomic<bool>>(false);
  return [fired, &latch](std::string_view) {
    if (!fired->exchange(true)) latch.count_down();
    return true;
  };
}

TEST_F(GenerationScheduling, CancellingEveryRunningRequestInOneStepStartsTheQueuedOnes) {
  start(/*slots=*/2);
  std::stop_source stop_a, stop_b;
  std::latch both_streaming(2);
  auto& a = submit({100}, 1 << 30, stop_a.get_token(), on_first_piece(both_streaming));
  auto& b = submit({200}, 1 << 30, stop_b.get_token(), on_first_piece(both_streaming));
  both_streaming.wait();  // both hold a slot and run until cancelled
  auto& c = submit({300}, 3);
  auto& d = submit({400}, 3);
  ASSERT_TRUE(wait_until([&] { return scheduler_->waiting() == 2; }));
  // Both stop requests land during one decode: the next step finds every slot cancelled and two
  // requests queued, the case in which a step used to decode nothing and leave the lane idle.
  auto armed = std::make_shared<std::atomic<bool>>(true);
  set_hook([stop_a, stop_b, armed](const std::vector<BatchEntry>&) mutable {
    if (armed->exchange(false)) {
      stop_a.request_stop();
      stop_b.request_stop();
    }
    return 0;
  });
  ASSERT_TRUE(ready(c)) << "a queued request stalled after every running one was cancelled";
  ASSERT_TRUE(ready(d)) << "a queued request stalled after every running one was cancelled";
  auto rc = c.get(), rd = d.get(), ra = a.get(), rb = b.get();
  ASSERT_TRUE(rc.ok() && rd.ok() && ra.ok() && rb.ok());
  EXPECT_EQ(rc->text, text_after(300, 3));
  EXPECT_EQ(rd->text, text_after(400, 3));
  EXPECT_EQ(ra->finish_reason, FinishReason::cancelled);
  EXPECT_EQ(rb->finish_reason, FinishReason::cancelled);
}

TEST_F(GenerationScheduling, ConcurrentRequestsShareEveryDecode) {
  start(/*slots=*/4);
  auto solo = run({50}, 8);
  ASSERT_TRUE(solo.ok());
  const size_t solo_decodes = log_->decode_count();
  EXPECT_EQ(solo_decodes, 8u);  // one for the prompt, one per token fed back
  {
    LaneHold hold(lane_);  // all four are queued before the first of them starts
    for (Token p : {100, 200, 300, 400}) submit({p}, 8);
    ASSERT_TRUE(wait_until([&] { return scheduler_->waiting() == 4; }));
  }
  for (size_t i = 0; i < 4; ++i) {
    auto r = calls_[i].get();
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->text, text_after(static_cast<Token>(100 * (i + 1)), 8));
  }
  // Four requests alone would take 4 x 8 decodes; together each decode carries all four streams.
  EXPECT_EQ(log_->decode_count() - solo_decodes, solo_decodes);
  EXPECT_EQ(scheduler_->decode_calls(), 2 * solo_decodes);
  std::lock_guard lk(log_->mu);
  for (size_t i = solo_decodes; i < log_->decodes.size(); ++i) {
    std::set<SeqId> seqs;
    for (const auto& e : log_->decodes[i]) seqs.insert(e.seq);
    EXPECT_EQ(seqs.size(), 4u) << "decode " << i;
  }
}

TEST_F(GenerationScheduling, LongPromptsAreFedInChunksWhileOtherStreamsKeepGenerating) {
  start(/*slots=*/2, 64, /*n_batch=*/4);
  std::latch streaming(1);
  auto& a = submit({100}, 12, {}, on_first_piece(streaming));
  streaming.wait();
  Tokens prompt;
  for (Token t = 1; t <= 10; ++t) prompt.push_back(t);
  auto b = run(prompt, 2);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->text, text_after(10, 2));
  auto ra = a.get();
  ASSERT_TRUE(ra.ok());
  EXPECT_EQ(ra->text, text_after(100, 12));
  std::lock_guard lk(log_->mu);
  for (const auto& batch : log_->decodes) EXPECT_LE(batch.size(), 4u);
}

TEST_F(GenerationScheduling, ASlowStreamConsumerDoesNotHoldBackOthers) {
  start(/*slots=*/2);
  std::promise<void> slow_started, fast_done;
  std::shared_future<void> fast_finished = fast_done.get_future().share();
  std::atomic<bool> waited_ok = false;
  auto first = std::make_shared<bool>(true);
  auto& slow = submit({100}, 4, {}, [&, first](std::string_view) {
    if (*first) {
      // Held until the other request has finished: a scheduler that ran callbacks on its own
      // thread would never finish it, and this wait would give up.
      *first = false;
      slow_started.set_value();
      waited_ok = fast_finished.wait_for(30s) == std::future_status::ready;
    }
    return true;
  });
  slow_started.get_future().wait();
  auto fast = run({200}, 4);
  fast_done.set_value();
  ASSERT_TRUE(fast.ok());
  EXPECT_EQ(fast->text, text_after(200, 4));
  auto s = slow.get();
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(waited_ok);
  EXPECT_EQ(s->text, text_after(100, 4));
}

TEST_F(GenerationScheduling, AFullQueueFailsAtOnceWithUnavailable) {
  start(/*slots=*/1, /*queue_limit=*/1);
  LaneHold hold(lane_);
  auto& queued = submit({100}, 2);
  ASSERT_TRUE(wait_until([&] { return scheduler_->waiting() == 1; }));
  auto refused = run({200}, 2);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::unavailable);
  EXPECT_NE(refused.error().message().find("queue_limit"), std::string::npos);
  hold.release();
  auto r = queued.get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->text, text_after(100, 2));
}

TEST_F(GenerationScheduling, UnloadingFailsQueuedRequestsWithUnavailable) {
  start(/*slots=*/1);
  LaneHold hold(lane_);
  auto& a = submit({100}, 2);
  auto& b = submit({200}, 2);
  ASSERT_TRUE(wait_until([&] { return scheduler_->waiting() == 2; }));
  scheduler_.reset();
  for (auto* f : {&a, &b}) {
    auto r = f->get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::unavailable) << r.error().to_string();
  }
  EXPECT_EQ(log_->decode_count(), 0u);
}

TEST_F(GenerationScheduling, AFailedDecodeEndsItsRequestsAndTheNextOnesRun) {
  start(/*slots=*/2);
  auto armed = std::make_shared<std::atomic<bool>>(true);
  set_hook([armed](const std::vector<BatchEntry>&) { return armed->exchange(false) ? 1 : 0; });
  auto failed = run({100}, 3);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code(), ErrorCode::inference_failed);
  EXPECT_NE(failed.error().message().find("KV cache"), std::string::npos) << failed.error().message();
  auto next = run({200}, 3);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->text, text_after(200, 3));
}

TEST_F(GenerationScheduling, ARepeatedPromptDecodesOnlyItsLastToken) {
  start(/*slots=*/1);
  const Tokens prompt = {1, 2, 3, 4, 5};
  auto first = run(prompt, 2);
  ASSERT_TRUE(first.ok());
  const size_t before = log_->decode_count();
  auto again = run(prompt, 2);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->text, first->text);
  std::lock_guard lk(log_->mu);
  ASSERT_GT(log_->decodes.size(), before);
  const auto& batch = log_->decodes[before];
  ASSERT_EQ(batch.size(), 1u);  // the cached tokens stay; the last one gives the first logits
  EXPECT_EQ(batch[0].token, 5);
  EXPECT_EQ(batch[0].pos, 4);
}

TEST_F(GenerationScheduling, AStopRequestedBeforeTheCallGeneratesNothing) {
  start(/*slots=*/1);
  std::stop_source stop;
  stop.request_stop();
  auto r = run({100}, 5, stop.get_token());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, FinishReason::cancelled);
  EXPECT_EQ(r->usage.completion_tokens, 0);
  EXPECT_TRUE(r->text.empty());
}

TEST_F(GenerationScheduling, TheEndOfGenerationTokenEndsWithStop) {
  start(/*slots=*/1);
  auto r = run({kEndOfGeneration - 3}, 100);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, FinishReason::stop);
  EXPECT_EQ(r->text, text_after(kEndOfGeneration - 3, 2));
  EXPECT_EQ(r->usage.completion_tokens, 2);
}

}  // namespace
}  // namespace xervo::llamacpp::testing
