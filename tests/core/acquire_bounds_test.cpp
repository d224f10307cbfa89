// Bounded handle acquisition (AcquireOptions): a caller with a stop token or a deadline never waits
// past them for a load, whether it waits on another caller's load or runs the load itself, and the
// load goes on (or starts again) for callers with time left. Ordered by latches, never by sleeps.
#include <gtest/gtest.h>

#include <latch>
#include <stop_token>
#include <thread>

#include "fake_provider.h"
#include "xervo/runtime.h"

namespace xervo {
namespace {

using namespace std::chrono_literals;
using testing::fake_spec;
using testing::FakeProvider;

std::shared_ptr<ModelRuntime> build(std::shared_ptr<FakeProvider> p, std::vector<ModelSpec> specs) {
  RuntimeBuilder b;
  b.add_provider(p);
  for (auto& s : specs) b.add_spec(s);
  auto r = b.build();
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
  return r.ok() ? *r : nullptr;
}

// Yields until `n` callers wait on the load in progress (an observable state, not a guess).
void wait_for_waiters(ModelRuntime& rt, int64_t n) {
  for (;;) {
    auto recs = rt.models();
    if (!recs.empty() && recs[0].waiting == n) return;
    std::this_thread::yield();
  }
}

// A load that blocks inside the provider until released; `entered` opens when it has started.
struct BlockingLoad {
  std::latch entered{1};
  std::latch release{1};
  void install(FakeProvider& p) {
    p.on_load = [this](const ModelSpec&) -> Result<void> {
      entered.count_down();
      release.wait();
      return {};
    };
  }
};

TEST(AcquireBounds, WaiterReturnsTimeoutAtItsDeadlineWhileTheLoadGoesOn) {
  auto p = std::make_shared<FakeProvider>();
  BlockingLoad load;
  load.install(*p);
  auto rt = build(p, {fake_spec("embed/a")});
  std::thread loader([&] {
    auto h = rt->embedding("embed/a");
    EXPECT_TRUE(h.ok()) << h.error().to_string();
  });
  load.entered.wait();
  // The load cannot finish before release, so this deadline is always reached first.
  AcquireOptions bounded;
  bounded.deadline = std::chrono::steady_clock::now() + 20ms;
  auto h = rt->embedding("embed/a", bounded);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code(), ErrorCode::timeout);
  EXPECT_NE(h.error().message().find("embed/a"), std::string::npos) << h.error().message();
  EXPECT_EQ(rt->models().at(0).state, ModelState::loading);  // untouched by the waiter leaving
  load.release.count_down();
  loader.join();
  EXPECT_EQ(p->counters->loads.load(), 1);
  EXPECT_EQ(rt->models().at(0).state, ModelState::loaded);
  EXPECT_EQ(rt->models().at(0).waiting, 0);
}

TEST(AcquireBounds, WaiterReturnsCancelledOnStopWhileTheLoadGoesOn) {
  auto p = std::make_shared<FakeProvider>();
  BlockingLoad load;
  load.install(*p);
  auto rt = build(p, {fake_spec("chat/a", ModelTask::generate)});
  std::thread loader([&] {
    auto h = rt->generator("chat/a");
    EXPECT_TRUE(h.ok()) << h.error().to_string();
  });
  load.entered.wait();
  std::stop_source stop;
  std::optional<Error> waiter_error;
  std::thread waiter([&] {
    AcquireOptions bounded;
    bounded.cancel = stop.get_token();
    auto h = rt->generator("chat/a", bounded);
    if (!h.ok()) waiter_error = h.error();
  });
  wait_for_waiters(*rt, 1);
  stop.request_stop();
  waiter.join();
  ASSERT_TRUE(waiter_error.has_value());
  EXPECT_EQ(waiter_error->code(), ErrorCode::cancelled);
  load.release.count_down();
  loader.join();
  EXPECT_EQ(p->counters->loads.load(), 1);
  auto h = rt->generator("chat/a");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(p->counters->loads.load(), 1);  // the load the waiter left finished for everyone
}

TEST(AcquireBounds, BoundsPassedBeforeTheLoadNeverReachTheProvider) {
  auto p = std::make_shared<FakeProvider>();
  auto rt = build(p, {fake_spec("embed/a")});
  AcquireOptions late;
  late.deadline = std::chrono::steady_clock::now() - 1s;
  auto h = rt->embedding("embed/a", late);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code(), ErrorCode::timeout);
  std::stop_source stop;
  stop.request_stop();
  AcquireOptions stopped;
  stopped.cancel = stop.get_token();
  auto g = rt->embedding("embed/a", stopped);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code(), ErrorCode::cancelled);
  EXPECT_EQ(p->counters->loads.load(), 0);
}

TEST(AcquireBounds, LoadedModelIsHandedOutWhateverTheBounds) {
  auto p = std::make_shared<FakeProvider>();
  auto rt = build(p, {fake_spec("embed/a")});
  ASSERT_TRUE(rt->embedding("embed/a").ok());
  AcquireOptions bounded;
  bounded.deadline = std::chrono::steady_clock::now() + 1h;
  EXPECT_TRUE(rt->embedding("embed/a", bounded).ok());
  EXPECT_EQ(p->counters->loads.load(), 1);
}

// The provider sees this caller's bounds: progress says go on until the stop, then stop, and the
// LoadControl it was given reports the same.
TEST(AcquireBounds, LoadStartedByTheCallerGetsItsBoundsThroughProgressAndControl) {
  auto p = std::make_shared<FakeProvider>();
  std::latch entered(1), stopped(1);
  std::atomic<bool> before = false, after = true, control_after = false;
  p->on_bounded_load = [&](const ModelSpec&, const ProgressCallback& progress,
                           const LoadControl& control) -> Result<void> {
    before = progress(0.5f, "reading");
    entered.count_down();
    stopped.wait();
    after = progress(0.6f, "reading");
    control_after = control.should_stop();
    return Error(ErrorCode::model_load_failed, "aborted by the progress callback");
  };
  std::vector<ModelEventKind> events;
  auto rt = build(p, {fake_spec("embed/a")});
  rt->subscribe([&](const ModelEvent& e) {
    if (e.kind != ModelEventKind::loading) events.push_back(e.kind);
  });
  std::stop_source stop;
  std::optional<Error> error;
  std::thread caller([&] {
    AcquireOptions bounded;
    bounded.cancel = stop.get_token();
    auto h = rt->embedding("embed/a", bounded);
    if (!h.ok()) error = h.error();
  });
  entered.wait();
  stop.request_stop();
  stopped.count_down();
  caller.join();
  EXPECT_TRUE(before.load());
  EXPECT_FALSE(after.load());
  EXPECT_TRUE(control_after.load());
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), ErrorCode::cancelled);
  // An abandoned load says nothing about the model: unloaded, not failed, and no failed event.
  auto rec = rt->models().at(0);
  EXPECT_EQ(rec.state, ModelState::unloaded);
  EXPECT_FALSE(rec.error.has_value());
  EXPECT_TRUE(events.empty());
  p->on_bounded_load = nullptr;
  ASSERT_TRUE(rt->embedding("embed/a").ok());
  EXPECT_EQ(p->counters->loads.load(), 2);
}

TEST(AcquireBounds, AbandonedLoadIsStartedAgainByAWaiterWithTimeLeft) {
  auto p = std::make_shared<FakeProvider>();
  std::latch entered(1);
  std::atomic<int> attempt = 0;
  p->on_bounded_load = [&](const ModelSpec&, const ProgressCallback& progress,
                           const LoadControl& control) -> Result<void> {
    if (++attempt > 1) return {};
    entered.count_down();
    // The first attempt runs until its caller's stop, as a load with progress reports would.
    while (progress(0.1f, "reading")) std::this_thread::yield();
    return control.stop_error("fake load");
  };
  auto rt = build(p, {fake_spec("embed/a")});
  std::stop_source stop;
  std::optional<Error> first_error;
  std::thread first([&] {
    AcquireOptions bounded;
    bounded.cancel = stop.get_token();
    auto h = rt->embedding("embed/a", bounded);
    if (!h.ok()) first_error = h.error();
  });
  entered.wait();
  bool second_ok = false;
  std::thread second([&] { second_ok = rt->embedding("embed/a").ok(); });
  wait_for_waiters(*rt, 1);
  stop.request_stop();
  first.join();
  second.join();
  ASSERT_TRUE(first_error.has_value());
  EXPECT_EQ(first_error->code(), ErrorCode::cancelled);
  EXPECT_TRUE(second_ok);
  EXPECT_EQ(p->counters->loads.load(), 2);
  EXPECT_EQ(rt->models().at(0).state, ModelState::loaded);
}

// A provider that cannot stop midway finishes its load: the model is kept for everyone, but the
// caller whose bounds ran out meanwhile gets its error, not a late handle.
TEST(AcquireBounds, LoadFinishedAfterTheStopServesOthersNotTheLateCaller) {
  auto p = std::make_shared<FakeProvider>();
  std::latch entered(1), stopped(1);
  p->on_load = [&](const ModelSpec&) -> Result<void> {
    entered.count_down();
    stopped.wait();
    return {};
  };
  auto rt = build(p, {fake_spec("embed/a")});
  std::stop_source stop;
  std::optional<Error> error;
  std::thread caller([&] {
    AcquireOptions bounded;
    bounded.cancel = stop.get_token();
    auto h = rt->embedding("embed/a", bounded);
    if (!h.ok()) error = h.error();
  });
  entered.wait();
  stop.request_stop();
  stopped.count_down();
  caller.join();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), ErrorCode::cancelled);
  EXPECT_EQ(rt->models().at(0).state, ModelState::loaded);
  p->on_load = nullptr;
  ASSERT_TRUE(rt->embedding("embed/a").ok());
  EXPECT_EQ(p->counters->loads.load(), 1);
}

TEST(AcquireBounds, FallbacksAreNotTriedOnceTheBoundsRanOut) {
  auto p = std::make_shared<FakeProvider>();
  std::latch entered(1), stopped(1);
  std::atomic<bool> first_load = true;
  p->on_load = [&](const ModelSpec& s) -> Result<void> {
    if (s.model != "p") return {};
    if (first_load.exchange(false)) {
      entered.count_down();
      stopped.wait();
    }
    return Error(ErrorCode::unavailable, "primary down");
  };
  auto primary = fake_spec("embed/primary", ModelTask::embed, "p");
  primary.fallbacks = {"embed/backup"};
  auto rt = build(p, {primary, fake_spec("embed/backup", ModelTask::embed, "b")});
  std::stop_source stop;
  std::optional<Error> error;
  std::thread caller([&] {
    AcquireOptions bounded;
    bounded.cancel = stop.get_token();
    auto h = rt->embedding("embed/primary", bounded);
    if (!h.ok()) error = h.error();
  });
  entered.wait();
  stop.request_stop();
  stopped.count_down();
  caller.join();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), ErrorCode::cancelled);
  EXPECT_EQ(p->counters->loads.load(), 1);  // the backup was never loaded
  // Without bounds the same failure does fall back.
  auto h = rt->embedding("embed/primary");
  ASSERT_TRUE(h.ok()) << h.error().to_string();
  EXPECT_EQ(p->counters->loads.load(), 3);
}

TEST(AcquireBounds, RuntimeLoadTakesTheBoundsToo) {
  auto p = std::make_shared<FakeProvider>();
  auto rt = build(p, {fake_spec("embed/a")});
  AcquireOptions late;
  late.deadline = std::chrono::steady_clock::now() - 1s;
  auto r = rt->load("embed/a", late);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::timeout);
  EXPECT_TRUE(rt->load("embed/a").ok());
}

// The resolver's bounded default refuses to start once the bounds ran out, and resolves otherwise.
class CountingResolver : public ModelResolver {
 public:
  bool handles(std::string_view id) const override { return id.starts_with("x:"); }
  Result<std::filesystem::path> resolve(std::string_view id, bool) override {
    ++calls;
    return std::filesystem::path("/models") / std::string(id.substr(2));
  }
  using ModelResolver::resolve;
  int calls = 0;
};

TEST(AcquireBounds, ResolverDefaultChecksTheBoundsBeforeResolving) {
  CountingResolver resolver;
  std::stop_source stop;
  LoadControl control{stop.get_token(), std::nullopt};
  auto ok = resolver.resolve("x:m.gguf", false, control);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, std::filesystem::path("/models/m.gguf"));
  stop.request_stop();
  auto stopped = resolver.resolve("x:m.gguf", true, control);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().code(), ErrorCode::cancelled);
  LoadControl late{{}, std::chrono::steady_clock::now() - 1s};
  auto timed_out = resolver.resolve("x:m.gguf", true, late);
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(timed_out.error().code(), ErrorCode::timeout);
  EXPECT_EQ(resolver.calls, 1);
}

}  // namespace
}  // namespace xervo
