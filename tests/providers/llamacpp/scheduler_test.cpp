// Continuous batching: concurrent requests share decode steps and still get exactly what they
// would get alone. (The schedule itself is tested exactly against a scripted engine in scheduling/.)
#include <chrono>
#include <future>
#include <latch>
#include <thread>

#include "helpers.h"
#include "lane_hold.h"
#include "providers/llamacpp/task_models.h"
#include "wait_until.h"

namespace xervo::testing {
namespace {

using namespace std::chrono_literals;

const std::vector<std::string> kPrompts = {"Once upon a time",
                                           "The capital of France is",
                                           "1, 2, 3, 4,",
                                           "def fibonacci(n):",
                                           "In a hole in the ground there lived a hobbit. Not a nasty, "
                                           "dirty, wet hole, filled with the ends of worms",
                                           "Q: What is the meaning of life?\nA:",
                                           "Roses are red,",
                                           "The quick brown fox jumps over the lazy dog. The quick brown fox "
                                           "jumps over the lazy dog. Again and again"};

GenerateRequest greedy(const std::string& prompt, int max_tokens) {
  GenerateRequest r;
  r.prompt = prompt;
  r.options.temperature = 0;
  r.options.max_tokens = max_tokens;
  return r;
}

llamacpp::GenerationScheduler& scheduler_of(GeneratorModel& model) {
  return dynamic_cast<llamacpp::LlamaGenerator&>(model).scheduler();
}

// Each prompt alone, then all at once from 8 threads: every text must equal its solo text, and the
// concurrent requests must have shared decodes (all 8 are queued before the first starts).
void expect_concurrent_equals_solo(const nlohmann::json& options) {
  auto loaded = load_or_fail(ModelTask::generate, test_model("generator"), options);
  ASSERT_TRUE(loaded.generator);
  auto& model = *loaded.generator;
  auto& scheduler = scheduler_of(model);
  std::vector<std::string> solo;
  const uint64_t before_solo = scheduler.decode_calls();
  for (const auto& p : kPrompts) {
    auto r = model.generate(greedy(p, 32));
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    solo.push_back(r->text);
  }
  const uint64_t solo_decodes = scheduler.decode_calls() - before_solo;
  std::vector<Result<GenerateResult>> got(kPrompts.size(), Error(ErrorCode::internal, "not run"));
  std::vector<std::thread> threads;
  {
    LaneHold hold(ComputeLane::shared());
    for (size_t i = 0; i < kPrompts.size(); ++i)
      threads.emplace_back([&, i] { got[i] = model.generate(greedy(kPrompts[i], 32)); });
    EXPECT_TRUE(wait_until([&] { return scheduler.waiting() == kPrompts.size(); }));
  }
  for (auto& t : threads) t.join();
  const uint64_t concurrent_decodes = scheduler.decode_calls() - before_solo - solo_decodes;
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    ASSERT_TRUE(got[i].ok()) << got[i].error().to_string();
    EXPECT_EQ(got[i]->text, solo[i]) << "prompt " << i << ": " << kPrompts[i];
  }
  // Run one at a time the same requests took solo_decodes decodes; sharing steps takes far fewer
  // (with 4 slots, at most about half).
  EXPECT_LE(concurrent_decodes * 2, solo_decodes)
      << concurrent_decodes << " decodes together, " << solo_decodes << " alone";
}

TEST(Scheduler, EightThreadsGenerateTheirSoloGreedyText) {
  expect_concurrent_equals_solo({{"parallel", 4}, {"context_size", 256}});
}

TEST(Scheduler, LongPromptsAreFedInChunksBetweenOtherStreamsSteps) {
  // A 16-token batch: long prompts take several steps while other slots keep generating.
  expect_concurrent_equals_solo({{"parallel", 8}, {"context_size", 256}, {"batch_size", 16}});
}

TEST(Scheduler, ASlowStreamConsumerDoesNotHoldBackOthers) {
  auto loaded = load_or_fail(ModelTask::generate, test_model("generator"), {{"parallel", 2}});
  ASSERT_TRUE(loaded.generator);
  auto& model = *loaded.generator;
  std::promise<void> slow_started, fast_done;
  std::shared_future<void> fast_finished = fast_done.get_future().share();
  bool waited_ok = false;
  std::thread slow([&] {
    bool first = true;
    auto r = model.generate(greedy("slow reader", 16), [&](std::string_view) {
      // Held until the fast request has finished; a scheduler that called the callback on its own
      // thread would never finish it, and this wait would give up.
      if (first) {
        first = false;
        slow_started.set_value();
        waited_ok = fast_finished.wait_for(30s) == std::future_status::ready;
      }
      return true;
    });
    EXPECT_TRUE(r.ok());
  });
  slow_started.get_future().wait();  // the slow stream holds a slot and is blocked in its callback
  auto fast = model.generate(greedy("fast reader", 16));
  fast_done.set_value();
  slow.join();
  ASSERT_TRUE(fast.ok()) << fast.error().to_string();
  EXPECT_TRUE(waited_ok);
}

TEST(Scheduler, FullQueueFailsAtOnceWithUnavailable) {
  auto loaded =
      load_or_fail(ModelTask::generate, test_model("generator"), {{"parallel", 1}, {"queue_limit", 1}});
  ASSERT_TRUE(loaded.generator);
  auto& model = *loaded.generator;
  Result<GenerateResult> queued = Error(ErrorCode::internal, "not run");
  std::thread waiting;
  {
    LaneHold hold(ComputeLane::shared());  // nothing starts: the first request stays queued
    waiting = std::thread([&] { queued = model.generate(greedy("queued", 8)); });
    EXPECT_TRUE(wait_until([&] { return scheduler_of(model).waiting() == 1; }));
    auto refused = model.generate(greedy("one too many", 8));
    EXPECT_FALSE(refused.ok());
    if (!refused.ok()) {
      EXPECT_EQ(refused.error().code(), ErrorCode::unavailable) << refused.error().to_string();
      EXPECT_NE(refused.error().message().find("queue_limit"), std::string::npos);
    }
  }
  waiting.join();
  EXPECT_TRUE(queued.ok()) << queued.error().to_string();
}

TEST(Scheduler, CancellingOneStreamLeavesTheOthersIntact) {
  auto loaded = load_or_fail(ModelTask::generate, test_model("generator"), {{"parallel", 4}});
  ASSERT_TRUE(loaded.generator);
  auto& model = *loaded.generator;
  auto solo = model.generate(greedy(kPrompts[1], 24));
  ASSERT_TRUE(solo.ok());
  std::latch start(2);
  Result<GenerateResult> cancelled = Error(ErrorCode::internal, "not run");
  Result<GenerateResult> kept = Error(ErrorCode::internal, "not run");
  std::thread a([&] {
    start.arrive_and_wait();
    int n = 0;
    cancelled = model.generate(greedy(kPrompts[0], 200), [&](std::string_view) { return ++n < 3; });
  });
  std::thread b([&] {
    start.arrive_and_wait();
    kept = model.generate(greedy(kPrompts[1], 24));
  });
  a.join();
  b.join();
  ASSERT_TRUE(cancelled.ok() && kept.ok());
  EXPECT_EQ(cancelled->finish_reason, FinishReason::cancelled);
  EXPECT_EQ(kept->text, solo->text);
  // The freed slot serves new work.
  auto after = model.generate(greedy(kPrompts[1], 24));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->text, solo->text);
}

TEST(Scheduler, ReleasingTheLastHandleShutsDownWhileIdle) {
  for (int i = 0; i < 3; ++i) {
    auto loaded = load_or_fail(ModelTask::generate, test_model("generator"));
    ASSERT_TRUE(loaded.generator);
    auto r = loaded.generator->generate(greedy("bye", 4));
    EXPECT_TRUE(r.ok());
  }  // each iteration joins the scheduler thread and frees context and model
}

}  // namespace
}  // namespace xervo::testing

namespace xervo::testing {
namespace {

// A slot keeps its tokens after a request: a prompt that repeats or extends an earlier one decodes
// only what is new, and must still give exactly what a fresh model gives.
TEST(Scheduler, ReusedPromptPrefixGivesTheSameTextAsAFreshModel) {
  const nlohmann::json options = {{"parallel", 1}, {"context_size", 256}};
  auto warm = load_or_fail(ModelTask::generate, test_model("generator"), options);
  ASSERT_TRUE(warm.generator);
  auto first = warm.generator->generate(greedy(kPrompts[0], 16));
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  auto again = warm.generator->generate(greedy(kPrompts[0], 16));  // the whole prompt is cached
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->text, first->text);
  const std::string extended = kPrompts[0] + first->text + " and then";
  auto longer = warm.generator->generate(greedy(extended, 16));  // prompt + answer are cached
  ASSERT_TRUE(longer.ok());
  auto other = warm.generator->generate(greedy(kPrompts[1], 16));  // shares nothing: starts over
  ASSERT_TRUE(other.ok());

  auto fresh = [&](const std::string& prompt) {
    auto cold = load_or_fail(ModelTask::generate, test_model("generator"), options);
    auto r = cold.generator->generate(greedy(prompt, 16));
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->text : std::string("<failed>");
  };
  EXPECT_EQ(longer->text, fresh(extended));
  EXPECT_EQ(other->text, fresh(kPrompts[1]));
}

}  // namespace
}  // namespace xervo::testing
