// Priority in both schedulers, against the scripted engine (fake_engine.h): waiting interactive
// requests start before waiting batch ones, batch sequences keep to their share of the slots, and a
// batch request still starts while interactive requests keep coming (batch_patience). Every
// schedule is exact: requests are queued behind a busy slot or a held lane, in an order the test
// fixes by waiting for the queue's length, and the engine's decode log says who ran when.
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
using Outputs = std::vector<std::vector<float>>;

// The prompt of a generation that holds a slot: the tokens it generates stay clear of the others'.
constexpr Token kFarAway = 2000000;

// The index of the first decode that holds `token`, or -1.
int first_decode_with(EngineLog& log, Token token) {
  std::lock_guard lk(log.mu);
  for (size_t i = 0; i < log.decodes.size(); ++i)
    for (const auto& e : log.decodes[i])
      if (e.token == token) return static_cast<int>(i);
  return -1;
}

class GenerationPriority : public ::testing::Test {
 protected:
  void start(int slots, int batch_patience = 4, int n_batch = 64, int batch_token_ratio = 8) {
    log_ = std::make_shared<EngineLog>();
    auto engine = std::make_unique<FakeEngine>(log_, n_batch);
    engine_ = engine.get();
    SchedulerConfig config{"fake.gguf", n_batch, slots, 1 << 30, 64};
    config.batch_patience = batch_patience;
    config.batch_token_ratio = batch_token_ratio;
    scheduler_ = std::make_unique<GenerationScheduler>(std::move(engine), config, lane_);
  }
  // Queues a generation on another thread and waits until the scheduler holds it, so that the
  // order of submit() calls is the order of the queue. `cancel` ends it (a long one holds its slot).
  std::future<Result<GenerateResult>>& submit(Tokens prompt, int max_tokens, Priority priority,
                                              std::stop_token cancel = {}, TokenCallback on_piece = {},
                                              int n = 1) {
    auto j = std::make_shared<GenerationJob>();
    j->prompt = std::move(prompt);
    j->sampler = std::make_unique<FakeSampler>(engine_);
    for (int i = 1; i < n; ++i) j->siblings.push_back(std::make_unique<FakeSampler>(engine_, 10 * i));
    j->max_tokens = max_tokens;
    j->priority = priority;
    calls_.push_back(std::async(std::launch::async, [this, j, cancel, on_piece] {
      return scheduler_->run(std::move(*j), on_piece, cancel);
    }));
    return calls_.back();
  }
  void queue(Tokens prompt, int max_tokens, Priority priority, std::stop_token cancel = {}, int n = 1) {
    const size_t before = scheduler_->waiting();
    submit(std::move(prompt), max_tokens, priority, cancel, {}, n);
    ASSERT_TRUE(wait_until([&] { return scheduler_->waiting() == before + 1; }));
  }
  // An interactive generation that holds one slot until `stop` is requested.
  void occupy_slot(std::stop_source& stop, Token prompt) {
    std::latch streaming(1);
    auto fired = std::make_shared<std::atomic<bool>>(false);
    submit({prompt}, 1 << 30, Priority::interactive, stop.get_token(), [fired, &streaming](std::string_view) {
      if (!fired->exchange(true)) streaming.count_down();
      return true;
    });
    streaming.wait();
  }
  void finish_all() {
    for (auto& c : calls_) {
      ASSERT_EQ(c.wait_for(30s), std::future_status::ready);
      auto r = c.get();
      ASSERT_TRUE(r.ok()) << r.error().to_string();
    }
  }

  std::shared_ptr<ComputeLane> lane_ = std::make_shared<ComputeLane>();
  std::shared_ptr<EngineLog> log_;
  FakeEngine* engine_ = nullptr;
  std::deque<std::future<Result<GenerateResult>>> calls_;  // destroyed after the scheduler
  std::unique_ptr<GenerationScheduler> scheduler_;
};

TEST_F(GenerationPriority, AQueuedInteractiveRequestStartsBeforeABatchRequestQueuedEarlier) {
  start(/*slots=*/1);
  std::stop_source running;
  occupy_slot(running, kFarAway);  // every slot busy
  queue({2000}, 2, Priority::batch);
  queue({3000}, 2, Priority::interactive);
  running.request_stop();  // the slot frees: who gets it?
  finish_all();
  const int batch = first_decode_with(*log_, 2000), interactive = first_decode_with(*log_, 3000);
  ASSERT_GE(batch, 0);
  ASSERT_GE(interactive, 0);
  EXPECT_LT(interactive, batch);
  // One slot: the interactive request ran to its end (its last decode feeds back 3001) before the
  // batch request started.
  EXPECT_LT(first_decode_with(*log_, 3001), batch);
}

TEST_F(GenerationPriority, BatchSequencesHoldAtMostHalfTheSlotsAndInteractiveOnesTakeTheRest) {
  start(/*slots=*/4);  // batch share: 2 slots
  std::vector<std::stop_source> stops(4);
  {
    LaneHold hold(lane_);  // all four batch requests wait before any step
    for (int i = 0; i < 4; ++i) queue({1000 * (i + 1)}, 1 << 30, Priority::batch, stops[i].get_token());
  }
  ASSERT_TRUE(wait_until([&] { return log_->decode_count() >= 1; }));
  {
    std::lock_guard lk(log_->mu);
    std::set<SeqId> seqs;
    for (const auto& e : log_->decodes[0]) seqs.insert(e.seq);
    EXPECT_EQ(seqs.size(), 2u) << "batch requests took more than their share of the slots";
  }
  EXPECT_EQ(scheduler_->waiting(), 2u);
  // Two slots stay free for interactive work, at once.
  auto& interactive = submit({9000}, 3, Priority::interactive);
  ASSERT_EQ(interactive.wait_for(30s), std::future_status::ready);
  auto r = interactive.get();
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->text, "9001 9002 9003 ");
  EXPECT_EQ(scheduler_->waiting(), 2u);  // the batch requests still wait for their share
  // One batch sequence ends: the next batch request takes its place.
  stops[0].request_stop();
  ASSERT_TRUE(wait_until([&] { return scheduler_->waiting() == 1; }));
  for (auto& s : stops) s.request_stop();
  calls_.pop_back();  // already read
  finish_all();
}

TEST_F(GenerationPriority, ABatchRequestWiderThanItsShareRunsAloneAmongBatchWork) {
  start(/*slots=*/4);  // share 2; this request has 3 sequences
  auto& wide = submit({500}, 2, Priority::batch, {}, {}, /*n=*/3);
  ASSERT_EQ(wide.wait_for(30s), std::future_status::ready);
  auto r = wide.get();
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->choice_count(), 3u);
  calls_.clear();
}

TEST_F(GenerationPriority, ABatchRequestStartsWhileInteractiveRequestsKeepComing) {
  // The guarantee against starvation: interactive requests wait all the time (the queue is never
  // without one), yet the batch request starts after batch_patience of them.
  start(/*slots=*/1, /*batch_patience=*/2);
  std::stop_source running;
  occupy_slot(running, kFarAway);
  queue({2000}, 1, Priority::batch);
  for (Token p : {3000, 4000, 5000, 6000, 7000}) queue({p}, 1, Priority::interactive);
  running.request_stop();
  finish_all();
  std::vector<std::pair<int, Token>> starts;
  for (Token p : {2000, 3000, 4000, 5000, 6000, 7000}) starts.emplace_back(first_decode_with(*log_, p), p);
  std::sort(starts.begin(), starts.end());
  std::vector<Token> order;
  for (const auto& [decode, token] : starts) order.push_back(token);
  EXPECT_EQ(order, (std::vector<Token>{3000, 4000, 2000, 5000, 6000, 7000}));
}

TEST_F(GenerationPriority, InteractivePromptsAreFedBeforeBatchPrompts) {
  start(/*slots=*/2, 4, /*n_batch=*/4);
  {
    LaneHold hold(lane_);
    queue({1, 2, 3, 4, 5, 6, 7, 8}, 1, Priority::batch);
    queue({101, 102, 103, 104, 105, 106, 107, 108}, 1, Priority::interactive);
  }
  finish_all();
  std::lock_guard lk(log_->mu);
  ASSERT_GE(log_->decodes.size(), 2u);
  // The interactive prompt fills the first two decodes; the batch prompt has the room left after it.
  for (size_t d = 0; d < 2; ++d)
    for (const auto& e : log_->decodes[d]) EXPECT_GT(e.token, 100) << "decode " << d;
}

TEST_F(GenerationPriority, BesideInteractiveStreamsABatchStreamGetsOneTokenPerRatioOfTheirs) {
  start(/*slots=*/2, 4, 64, /*batch_token_ratio=*/4);
  std::stop_source running;
  occupy_slot(running, kFarAway);  // one interactive token in every step from here on
  auto& batch = submit({500}, 5, Priority::batch);
  ASSERT_EQ(batch.wait_for(30s), std::future_status::ready);  // it advances under interactive load
  auto r = batch.get();
  calls_.pop_back();
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->text, "501 502 503 504 505 ");
  running.request_stop();
  finish_all();
  // From the batch request's first decode to its last: its 5 tokens (the prompt and 4 fed back)
  // came one per 4 interactive tokens, the first on the credit of the steps before it.
  std::lock_guard lk(log_->mu);
  int first = -1, last = -1;
  for (size_t i = 0; i < log_->decodes.size(); ++i)
    for (const auto& e : log_->decodes[i])
      if (e.token >= 500 && e.token < 510) {
        if (first < 0) first = static_cast<int>(i);
        last = static_cast<int>(i);
      }
  ASSERT_GE(first, 0);
  int batch_tokens = 0, interactive_tokens = 0;
  for (int i = first; i <= last; ++i)
    for (const auto& e : log_->decodes[static_cast<size_t>(i)])
      (e.token >= kFarAway ? interactive_tokens : batch_tokens)++;
  EXPECT_EQ(batch_tokens, 5);
  EXPECT_GE(interactive_tokens, 4 * (batch_tokens - 1));
}

TEST_F(GenerationPriority, WithoutInteractiveWorkBatchStreamsDecodeInEveryStep) {
  start(/*slots=*/2, 4, 64, /*batch_token_ratio=*/4);
  auto& batch = submit({500}, 5, Priority::batch);
  ASSERT_EQ(batch.wait_for(30s), std::future_status::ready);
  auto r = batch.get();
  calls_.clear();
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(log_->decode_count(), 5u);  // the prompt, then one decode per token fed back
}

class PooledPriority : public ::testing::Test {
 protected:
  void start(int n_seq_max, int batch_patience = 4) {
    log_ = std::make_shared<EngineLog>();
    SchedulerConfig config{"fake.gguf", 64, n_seq_max, 64, 64};
    config.batch_patience = batch_patience;
    scheduler_ = std::make_unique<PooledScheduler>(std::make_unique<FakeEngine>(log_, 64), config,
                                                   /*n_outputs=*/2, lane_);
  }
  void queue(std::vector<Tokens> sequences, Priority priority) {
    const size_t before = scheduler_->waiting();
    calls_.push_back(std::async(std::launch::async, [this, sequences, priority] {
      return scheduler_->run(sequences, {}, priority);
    }));
    ASSERT_TRUE(wait_until([&] { return scheduler_->waiting() == before + 1; }));
  }
  // The first token of each decode, in order.
  std::vector<Token> decode_heads() {
    for (auto& c : calls_) {
      EXPECT_EQ(c.wait_for(30s), std::future_status::ready);
      auto r = c.get();
      EXPECT_TRUE(r.ok()) << r.error().to_string();
    }
    std::lock_guard lk(log_->mu);
    std::vector<Token> heads;
    for (const auto& d : log_->decodes) heads.push_back(d.empty() ? -1 : d.front().token);
    return heads;
  }

  std::shared_ptr<ComputeLane> lane_ = std::make_shared<ComputeLane>();
  std::shared_ptr<EngineLog> log_;
  std::deque<std::future<Result<Outputs>>> calls_;  // destroyed after the scheduler
  std::unique_ptr<PooledScheduler> scheduler_;
};

TEST_F(PooledPriority, InteractiveInputsGoIntoTheBatchBeforeEarlierBatchInputs) {
  start(/*n_seq_max=*/1);  // one input per decode: the order of decodes is the order of service
  {
    LaneHold hold(lane_);
    queue({{5}, {6}}, Priority::batch);
    queue({{7}}, Priority::interactive);
  }
  EXPECT_EQ(decode_heads(), (std::vector<Token>{7, 5, 6}));
}

TEST_F(PooledPriority, ABatchRequestPassedOverBatchPatienceTimesGoesFirst) {
  start(/*n_seq_max=*/1, /*batch_patience=*/2);
  {
    LaneHold hold(lane_);
    queue({{5}}, Priority::batch);
    for (Token t : {11, 12, 13, 14}) queue({{t}}, Priority::interactive);
  }
  EXPECT_EQ(decode_heads(), (std::vector<Token>{11, 12, 5, 13, 14}));
}

}  // namespace
}  // namespace xervo::llamacpp::testing
