// PooledScheduler against a scripted engine (fake_engine.h): a sequence's output is {sum of its
// tokens, token count}, so every caller can check it got its own. Ordered with a held lane and the
// scheduler's decode observer, never with sleeps.
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <future>

#include "fake_engine.h"
#include "lane_hold.h"
#include "providers/llamacpp/scheduler.h"
#include "wait_until.h"

namespace xervo::llamacpp::testing {
namespace {

using namespace std::chrono_literals;
using xervo::testing::LaneHold;
using xervo::testing::wait_until;
using Outputs = std::vector<std::vector<float>>;

Outputs expected(const std::vector<Tokens>& sequences) {
  Outputs out;
  for (const auto& t : sequences) {
    float sum = 0;
    for (Token x : t) sum += static_cast<float>(x);
    out.push_back({sum, static_cast<float>(t.size())});
  }
  return out;
}

class PooledScheduling : public ::testing::Test {
 protected:
  void start(int n_seq_max, int queue_limit = 64, int n_batch = 64) {
    log_ = std::make_shared<EngineLog>();
    SchedulerConfig config{"fake.gguf", n_batch, n_seq_max, n_batch, queue_limit};
    scheduler_ = std::make_unique<PooledScheduler>(std::make_unique<FakeEngine>(log_, n_batch), config,
                                                   /*n_outputs=*/2, lane_);
  }
  std::future<Result<Outputs>>& submit(std::vector<Tokens> sequences, std::stop_token cancel = {}) {
    calls_.push_back(std::async(std::launch::async,
                                [this, sequences, cancel] { return scheduler_->run(sequences, cancel); }));
    return calls_.back();
  }

  std::shared_ptr<ComputeLane> lane_ = std::make_shared<ComputeLane>();
  std::shared_ptr<EngineLog> log_;
  std::deque<std::future<Result<Outputs>>> calls_;  // destroyed after the scheduler
  std::unique_ptr<PooledScheduler> scheduler_;
};

TEST_F(PooledScheduling, ConcurrentCallersShareOneBatchAndEachGetsItsOwnOutputs) {
  start(/*n_seq_max=*/8);
  const std::vector<std::vector<Tokens>> calls = {{{1, 2, 3}}, {{10, 20}, {30}}, {{100}, {200, 300}, {7}}};
  {
    LaneHold hold(lane_);
    for (const auto& c : calls) submit(c);
    ASSERT_TRUE(wait_until([&] { return scheduler_->waiting() == calls.size(); }));
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    auto r = calls_[i].get();
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(*r, expected(calls[i])) << "caller " << i;
  }
  EXPECT_EQ(scheduler_->decode_calls(), 1u);  // six inputs of three callers, one batch
}

TEST_F(PooledScheduling, InputsBeyondOneBatchRunInLaterBatchesInOrder) {
  start(/*n_seq_max=*/2);
  std::vector<Tokens> many;
  for (Token t = 1; t <= 5; ++t) many.push_back({t, t});
  auto r = scheduler_->run(many);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, expected(many));
  EXPECT_EQ(scheduler_->decode_calls(), 3u);
}

TEST_F(PooledScheduling, ACancelDuringTheFirstBatchDropsTheRestAndTheNextCallRuns) {
  start(/*n_seq_max=*/2);
  std::stop_source stop;
  // After the first batch of ten (two inputs each): the stop request arrives from the lane itself,
  // so the call cannot have run further.
  scheduler_->set_decode_observer([stop](uint64_t decodes) mutable {
    if (decodes == 1) stop.request_stop();
  });
  std::vector<Tokens> many;
  for (Token t = 1; t <= 20; ++t) many.push_back({t});
  auto r = scheduler_->run(many, stop.get_token());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::cancelled);
  const std::vector<Tokens> next = {{40, 2}};
  auto n = scheduler_->run(next);
  ASSERT_TRUE(n.ok()) << n.error().to_string();
  EXPECT_EQ(*n, expected(next));
  EXPECT_EQ(scheduler_->decode_calls(), 2u);  // the cancelled call's first batch, then the next call
  std::lock_guard lk(log_->mu);
  ASSERT_EQ(log_->decodes.size(), 2u);
  ASSERT_EQ(log_->decodes[1].size(), 2u);  // only the next call's tokens: the dropped inputs never ran
  EXPECT_EQ(log_->decodes[1][0].token, 40);
}

TEST_F(PooledScheduling, AStopRequestedBeforeTheCallIsCancelledWithoutADecode) {
  start(/*n_seq_max=*/4);
  std::stop_source stop;
  stop.request_stop();
  auto r = scheduler_->run({{1, 2}}, stop.get_token());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::cancelled);
  EXPECT_EQ(scheduler_->decode_calls(), 0u);
}

TEST_F(PooledScheduling, AFullQueueFailsAtOnceAndUnloadingFailsWhatIsQueued) {
  start(/*n_seq_max=*/4, /*queue_limit=*/1);
  LaneHold hold(lane_);
  auto& queued = submit({{1}});
  ASSERT_TRUE(wait_until([&] { return scheduler_->waiting() == 1; }));
  auto refused = scheduler_->run({{2}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::unavailable);
  EXPECT_NE(refused.error().message().find("queue_limit"), std::string::npos);
  scheduler_.reset();
  auto r = queued.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::unavailable);
  EXPECT_EQ(log_->decode_count(), 0u);
}

TEST_F(PooledScheduling, AFailedDecodeFailsItsCallersAndTheNextCallRuns) {
  start(/*n_seq_max=*/4);
  {
    std::lock_guard lk(log_->mu);
    auto armed = std::make_shared<std::atomic<bool>>(true);
    log_->on_decode = [armed](const std::vector<BatchEntry>&) { return armed->exchange(false) ? 3 : 0; };
  }
  auto failed = scheduler_->run({{1, 2}});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code(), ErrorCode::inference_failed);
  auto next = scheduler_->run({{5}});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, expected({{5}}));
}

}  // namespace
}  // namespace xervo::llamacpp::testing
