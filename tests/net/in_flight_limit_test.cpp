// InFlightLimit: the per-provider concurrency limit (max_in_flight) with its bounded queue.
#include "net/in_flight_limit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace xervo::net {
namespace {

TEST(InFlightLimit, AtMostMaxRunAtOnceAndWaitersGetTheFreedSlots) {
  InFlightLimit limit(2, 16);
  std::atomic<int> running{0}, peak{0}, done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto slot = limit.acquire(std::chrono::seconds(30), {}, "test");
      ASSERT_TRUE(slot.ok()) << slot.error().message();
      int now = ++running;
      int seen = peak.load();
      while (now > seen && !peak.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::yield();
      --running;
      ++done;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), 8);
  EXPECT_LE(peak.load(), 2);
  EXPECT_EQ(limit.in_flight(), 0);
  EXPECT_EQ(limit.queued(), 0);
}

TEST(InFlightLimit, AFullQueueRefusesAtOnce) {
  InFlightLimit limit(1, 0);
  auto held = limit.acquire(std::chrono::seconds(1), {}, "upstream");
  ASSERT_TRUE(held.ok());
  auto refused = limit.acquire(std::chrono::seconds(30), {}, "upstream");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::unavailable);
  EXPECT_NE(refused.error().message().find("max_queued"), std::string::npos);
}

TEST(InFlightLimit, AWaitEndsWithTheTimeoutOrTheStopToken) {
  InFlightLimit limit(1, 4);
  auto held = limit.acquire(std::chrono::seconds(1), {}, "upstream");
  ASSERT_TRUE(held.ok());
  auto timed_out = limit.acquire(std::chrono::milliseconds(1), {}, "upstream");
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(timed_out.error().code(), ErrorCode::unavailable);
  std::stop_source stop;
  stop.request_stop();
  auto cancelled = limit.acquire(std::chrono::seconds(30), stop.get_token(), "upstream");
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.error().code(), ErrorCode::cancelled);
  EXPECT_EQ(limit.queued(), 0);
}

// A freed slot goes to the oldest waiter: under a steady overload no request waits for many rounds
// while newer ones pass it (its p99 would be a multiple of the p50).
TEST(InFlightLimit, WaitersAreServedFirstComeFirstServedAndOneThatGaveUpIsSkipped) {
  InFlightLimit limit(1, 16);
  auto held = limit.acquire(std::chrono::seconds(1), {}, "upstream");
  ASSERT_TRUE(held.ok());
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread> threads;
  std::stop_source quitter;
  for (int i = 0; i < 6; ++i) {
    const bool gives_up = i == 2;
    threads.emplace_back([&, i, gives_up] {
      auto slot = limit.acquire(std::chrono::seconds(30), gives_up ? quitter.get_token() : std::stop_token{}, "upstream");
      if (gives_up) {
        EXPECT_FALSE(slot.ok());
        return;
      }
      ASSERT_TRUE(slot.ok()) << slot.error().message();
      std::lock_guard lock(mu);
      order.push_back(i);
    });
    while (limit.queued() < i + 1) std::this_thread::yield();  // queued in this order
  }
  quitter.request_stop();  // waiter 2 leaves the queue
  while (limit.queued() > 5) std::this_thread::yield();
  { auto released = std::move(*held); }
  for (auto& t : threads) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 3, 4, 5}));
  EXPECT_EQ(limit.in_flight(), 0);
  EXPECT_EQ(limit.queued(), 0);
}

// A queue_timeout_ms so large that now() + it overflows still means "wait": the freed slot is taken.
TEST(InFlightLimit, AHugeTimeoutWaitsInsteadOfEndingAtOnce) {
  InFlightLimit limit(1, 4);
  auto held = limit.acquire(std::chrono::seconds(1), {}, "upstream");
  ASSERT_TRUE(held.ok());
  std::atomic<bool> finished{false};
  std::optional<Result<InFlightLimit::Slot>> got;
  std::thread waiter([&] {
    got.emplace(limit.acquire(std::chrono::milliseconds::max(), {}, "upstream"));
    finished = true;
  });
  while (limit.queued() == 0 && !finished) std::this_thread::yield();
  { auto released = std::move(*held); }
  waiter.join();
  ASSERT_TRUE(got->ok()) << got->error().message();
}

// Grants racing timeouts and stops: whatever each waiter gets, no slot is lost or counted twice
// (a grant to a waiter that then reports an error would leave in_flight() above zero for good,
// and every later request would queue behind a slot nobody holds).
TEST(InFlightLimit, GrantsRacingTimeoutsAndStopsLoseNoSlot) {
  InFlightLimit limit(3, 1000);
  std::atomic<int> running{0}, peak{0}, served{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        std::stop_source stop;
        std::optional<std::jthread> stopper;
        if ((i + t) % 5 == 0) stopper.emplace([&stop] { stop.request_stop(); });  // stop mid-wait
        const auto timeout = std::chrono::microseconds((i * 7 + t) % 3 == 0 ? 0 : (i * 13 + t) % 400);
        auto slot = limit.acquire(std::chrono::duration_cast<std::chrono::milliseconds>(timeout) +
                                      std::chrono::milliseconds((i + t) % 2),
                                  stop.get_token(), "upstream");
        stopper.reset();
        if (!slot.ok()) continue;
        int now = ++running;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::yield();
        --running;
        ++served;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_LE(peak.load(), 3);
  EXPECT_GT(served.load(), 0);
  EXPECT_EQ(limit.in_flight(), 0);
  EXPECT_EQ(limit.queued(), 0);
  // All three slots are free: three acquires that may not wait all succeed.
  std::vector<InFlightLimit::Slot> slots;
  for (int i = 0; i < 3; ++i) {
    auto slot = limit.acquire(std::chrono::milliseconds(0), {}, "upstream");
    ASSERT_TRUE(slot.ok()) << i << ": " << slot.error().message();
    slots.push_back(std::move(*slot));
  }
}

TEST(InFlightLimit, SharedByKeyAndBounds) {
  auto a = InFlightLimit::shared("openai|http://x", 8, 16);
  auto b = InFlightLimit::shared("openai|http://x", 8, 16);
  auto c = InFlightLimit::shared("openai|http://y", 8, 16);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_NE(a.get(), c.get());
}

}  // namespace
}  // namespace xervo::net
