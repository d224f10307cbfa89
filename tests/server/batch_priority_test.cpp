// Batch lines yield to interactive requests: each line's model call runs at Priority::batch (an
// HTTP request's at interactive), and at most batch_concurrency lines run at once. The latch model
// holds every call until the test lets it go, one at a time, so the limit is checked at each step
// without timing.
#include "batch_fixture.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

TEST_F(BatchTest, BatchLinesCallTheModelAtBatchPriorityAndHttpRequestsAtInteractive) {
  start_batch_server();
  std::string input;
  for (int i = 0; i < 3; ++i)
    input += chat_line("b" + std::to_string(i), "chat/latch", "line " + std::to_string(i));
  auto done = wait_final(create_batch(upload(input))["id"]);
  ASSERT_EQ(done["status"], "completed") << done.dump();
  auto r = post(
      "/v1/chat/completions",
      {{"model", "chat/latch"}, {"max_tokens", 3}, {"messages", {{{"role", "user"}, {"content", "live"}}}}});
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
  std::lock_guard lock(latch->mu);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(latch->priority["line " + std::to_string(i)], Priority::batch) << i;
  EXPECT_EQ(latch->priority["live"], Priority::interactive);
}

TEST_F(BatchTest, AtMostBatchConcurrencyLinesRunAtOnce) {
  options.batch_concurrency = 2;
  latch->answer_first = 0;  // every call waits for a permit
  start_batch_server();
  constexpr int kLines = 6;
  std::string input;
  for (int i = 0; i < kLines; ++i)
    input += chat_line("c" + std::to_string(i), "chat/latch", "p" + std::to_string(i));
  std::string id = create_batch(upload(input))["id"];
  // Each round: once the previous line has passed the latch, the lines in flight fill the limit
  // (or what is left); then one of them may go on.
  for (int left = kLines; left > 0; --left) {
    ASSERT_TRUE(Probe::eventually([&] {
      std::lock_guard lock(latch->mu);
      int passed = 0;
      for (const auto& [prompt, n] : latch->answered) passed += n;
      return passed == kLines - left && latch->held == std::min(left, 2);
    })) << left
        << " lines left";
    {
      std::lock_guard lock(latch->mu);
      EXPECT_LE(latch->max_in_flight, 2);
    }
    latch->permit_one();
  }
  auto done = wait_final(id);
  ASSERT_EQ(done["status"], "completed") << done.dump();
  EXPECT_EQ(done["request_counts"]["completed"], kLines);
  std::lock_guard lock(latch->mu);
  EXPECT_EQ(latch->max_in_flight, 2);
}

}  // namespace
}  // namespace xervo::testing
