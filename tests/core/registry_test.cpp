// Load-once, shared ownership and failure semantics of the registry, through the public runtime.
#include <gtest/gtest.h>

#include <barrier>
#include <latch>
#include <thread>
#include <vector>

#include "fake_provider.h"
#include "xervo/runtime.h"

namespace xervo {
namespace {

using testing::fake_spec;
using testing::FakeProvider;

// Spins (yielding) until `n` callers wait on the one load in progress: an observable state, not a
// guess about how long threads take to get there.
void wait_for_waiters(ModelRuntime& rt, int64_t n) {
  for (;;) {
    auto recs = rt.models();
    if (!recs.empty() && recs[0].waiting == n) return;
    std::this_thread::yield();
  }
}

std::shared_ptr<ModelRuntime> build(std::shared_ptr<FakeProvider> p, std::vector<ModelSpec> specs) {
  RuntimeBuilder b;
  b.add_provider(p);
  for (auto& s : specs) b.add_spec(s);
  auto r = b.build();
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
  return r.ok() ? *r : nullptr;
}

TEST(Registry, SixtyFourThreadsLoadOnce) {
  auto p = std::make_shared<FakeProvider>();
  std::latch release(1);
  std::atomic<int> loading{0};
  p->on_load = [&](const ModelSpec&) -> Result<void> {
    loading++;
    release.wait();  // hold the load open until every thread is waiting on it
    return {};
  };
  auto rt = build(p, {fake_spec("embed/a")});
  constexpr int kThreads = 64;
  std::vector<std::shared_ptr<EmbeddingModel>> handles(kThreads);
  std::vector<const void*> models(kThreads);
  std::barrier start(kThreads + 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto h = rt->embedding("embed/a");
      ASSERT_TRUE(h.ok()) << h.error().to_string();
      handles[i] = *h;
    });
  }
  start.arrive_and_wait();
  // Release the one load only once every other thread waits on it.
  wait_for_waiters(*rt, kThreads - 1);
  while (loading.load() == 0) std::this_thread::yield();  // and the loader is inside load()
  release.count_down();
  for (auto& t : threads) t.join();
  EXPECT_EQ(p->counters->loads.load(), 1);
  auto recs = rt->models();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].state, ModelState::loaded);
  EXPECT_EQ(recs[0].load_count, 1);
  // Every handle reaches the same provider instance: one call each, all counted on it.
  for (auto& h : handles) {
    std::vector<std::string> in{"abc"};
    ASSERT_TRUE(h->embed(in).ok());
  }
  EXPECT_EQ(p->counters->calls.load(), kThreads);
}

TEST(Registry, SameKeySharesOneInstanceDifferentOptionsDoNot) {
  auto p = std::make_shared<FakeProvider>();
  auto a = fake_spec("embed/a");
  auto b = fake_spec("embed/b");
  auto c = fake_spec("embed/c");
  c.options = {{"dimensions", 8}};
  auto rt = build(p, {a, b, c});
  ASSERT_TRUE(rt->embedding("embed/a").ok());
  ASSERT_TRUE(rt->embedding("embed/b").ok());
  EXPECT_EQ(p->counters->loads.load(), 1);
  auto hc = rt->embedding("embed/c");
  ASSERT_TRUE(hc.ok());
  EXPECT_EQ((*hc)->dimensions(), 8);
  EXPECT_EQ(p->counters->loads.load(), 2);
  auto recs = rt->models();
  ASSERT_EQ(recs.size(), 2u);
  for (const auto& r : recs) {
    if (r.key.options == "{}") {
      EXPECT_EQ(r.aliases, (std::vector<std::string>{"embed/a", "embed/b"}));
    } else {
      EXPECT_EQ(r.aliases, (std::vector<std::string>{"embed/c"}));
    }
  }
}

TEST(Registry, OptionOrderDoesNotChangeTheKey) {
  auto a = fake_spec("a");
  a.options = nlohmann::json::parse(R"({"x":1,"y":2})");
  auto b = fake_spec("b");
  b.options = nlohmann::json::parse(R"({"y":2,"x":1})");
  EXPECT_EQ(make_model_key(a), make_model_key(b));
  EXPECT_EQ(make_model_key(a).to_string(), make_model_key(b).to_string());
  b.options["x"] = 3;
  EXPECT_NE(make_model_key(a), make_model_key(b));
}

TEST(Registry, FailedLoadReachesEveryWaiterThenRetrySucceeds) {
  auto p = std::make_shared<FakeProvider>();
  std::atomic<bool> fail{true};
  std::latch release(1);
  std::atomic<int> entered{0};
  p->on_load = [&](const ModelSpec&) -> Result<void> {
    entered++;
    if (fail) {
      release.wait();
      return Error(ErrorCode::model_load_failed, "disk on fire");
    }
    return {};
  };
  auto rt = build(p, {fake_spec("embed/a")});
  constexpr int kThreads = 16;
  std::vector<std::optional<Error>> errors(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      auto h = rt->embedding("embed/a");
      if (!h.ok()) errors[i] = h.error();
    });
  // Fail the load only once every other thread waits on it: none can arrive after the failure and
  // start a second load.
  wait_for_waiters(*rt, kThreads - 1);
  while (entered.load() == 0) std::this_thread::yield();  // and the loader is inside load()
  release.count_down();
  for (auto& t : threads) t.join();
  EXPECT_EQ(p->counters->loads.load(), 1);
  for (const auto& e : errors) {
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code(), ErrorCode::model_load_failed);
    EXPECT_NE(e->message().find("disk on fire"), std::string::npos);
  }
  auto recs = rt->models();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].state, ModelState::failed);
  ASSERT_TRUE(recs[0].error.has_value());
  EXPECT_EQ(recs[0].error->code(), ErrorCode::model_load_failed);

  fail = false;
  auto h = rt->embedding("embed/a");
  ASSERT_TRUE(h.ok()) << h.error().to_string();
  EXPECT_EQ(p->counters->loads.load(), 2);
  EXPECT_EQ(rt->models()[0].state, ModelState::loaded);
  EXPECT_FALSE(rt->models()[0].error.has_value());
}

TEST(Registry, ThrowingProviderIsAFailedLoad) {
  auto p = std::make_shared<FakeProvider>();
  p->on_load = [](const ModelSpec&) -> Result<void> { throw std::runtime_error("boom"); };
  auto rt = build(p, {fake_spec("embed/a")});
  auto h = rt->embedding("embed/a");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code(), ErrorCode::model_load_failed);
  EXPECT_NE(h.error().message().find("boom"), std::string::npos);
}

TEST(Registry, UnloadWhileHeldKeepsHandleWorkingUntilReleased) {
  auto p = std::make_shared<FakeProvider>();
  auto rt = build(p, {fake_spec("embed/a")});
  auto h = rt->embedding("embed/a");
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(rt->unload("embed/a").ok());
  EXPECT_TRUE(rt->models().empty());
  EXPECT_EQ(p->counters->destroyed.load(), 0);
  std::vector<std::string> in{"hello"};
  auto r = (*h)->embed(in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->vectors[0][0], 5.0f);
  h = Error(ErrorCode::internal, "released");  // drop the last handle
  EXPECT_EQ(p->counters->destroyed.load(), 1);
  // The next request loads a fresh instance.
  ASSERT_TRUE(rt->embedding("embed/a").ok());
  EXPECT_EQ(p->counters->loads.load(), 2);
}

TEST(Registry, UnloadUnknownNameIsAliasNotFound) {
  auto p = std::make_shared<FakeProvider>();
  auto rt = build(p, {fake_spec("embed/a")});
  auto r = rt->unload("nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::alias_not_found);
  EXPECT_NE(r.error().message().find("embed/a"), std::string::npos);
}

TEST(Registry, RecordsTrackInFlightAndLastUse) {
  auto p = std::make_shared<FakeProvider>();
  std::latch inside(1), release(1);
  auto rt = build(p, {fake_spec("chat/a", ModelTask::generate)});
  auto h = rt->generator("chat/a");
  ASSERT_TRUE(h.ok());
  std::thread t([&] {
    GenerateRequest req;
    auto r = (*h)->generate(req, [&](std::string_view) {
      inside.count_down();
      release.wait();
      return true;
    });
    EXPECT_TRUE(r.ok());
  });
  inside.wait();
  auto rec = rt->models().at(0);
  EXPECT_EQ(rec.in_flight, 1);
  EXPECT_GT(rec.last_used.time_since_epoch().count(), 0);
  EXPECT_EQ(rec.memory_bytes, 1024u);
  release.count_down();
  t.join();
  EXPECT_EQ(rt->models().at(0).in_flight, 0);
}

}  // namespace
}  // namespace xervo
