// The lifecycle policy through the public runtime: memory budget and LRU eviction of idle models,
// busy and pinned models kept, concurrent loads that never overshoot, keep-alive expiry on an
// injected clock, hot-swap under concurrent calls, rollback and config reload. Models declare their
// size through the fake provider's `bytes` option. No sleeps: every wait is on an observable state.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <mutex>
#include <thread>
#include <vector>

#include "fake_provider.h"
#include "xervo/config.h"
#include "xervo/runtime.h"

namespace xervo {
namespace {

using namespace std::chrono_literals;
using testing::fake_spec;
using testing::FakeProvider;

// A clock tests move by hand.
struct ManualClock {
  std::atomic<int64_t> ns{1'000'000'000};
  std::chrono::steady_clock::time_point now() const {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns.load()));
  }
  void advance(std::chrono::nanoseconds d) { ns += d.count(); }
};

ModelSpec sized(std::string alias, uint64_t bytes, ModelTask task = ModelTask::embed,
                std::string model = "") {
  auto s = fake_spec(alias, task, model.empty() ? alias : model);
  s.options["bytes"] = bytes;
  return s;
}

struct Fixture {
  std::shared_ptr<FakeProvider> provider = std::make_shared<FakeProvider>();
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::mutex mu;  // before rt: the runtime's shutdown events still land here
  std::vector<ModelEvent> events;
  std::shared_ptr<ModelRuntime> rt;

  Fixture(std::vector<ModelSpec> specs, RuntimeLimits limits) {
    RuntimeBuilder b;
    b.add_provider(provider);
    for (auto& s : specs) b.add_spec(s);
    b.set_limits(limits);
    auto c = clock;
    b.set_clock([c] { return c->now(); });
    auto r = b.build();
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
    rt = *r;
    rt->subscribe([this](const ModelEvent& e) {
      std::lock_guard lock(mu);
      events.push_back(e);
    });
  }
  // Gets a handle, runs one call, lets go of it; the clock moves a second so idle order is clear.
  void use(const std::string& alias) {
    auto h = rt->embedding(alias);
    ASSERT_TRUE(h.ok()) << h.error().to_string();
    std::vector<std::string> in{"x"};
    ASSERT_TRUE((*h)->embed(in).ok());
    clock->advance(1s);
  }
  std::optional<ModelRecord> record(const std::string& alias) {
    for (const auto& r : rt->models())
      if (std::find(r.aliases.begin(), r.aliases.end(), alias) != r.aliases.end()) return r;
    return std::nullopt;
  }
  bool loaded(const std::string& alias) {
    auto r = record(alias);
    return r && r->state == ModelState::loaded;
  }
  std::vector<std::string> unloaded(UnloadReason reason) {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (const auto& e : events)
      if (e.kind == ModelEventKind::unloaded && e.reason == reason) out.push_back(e.record.aliases.front());
    return out;
  }
};

RuntimeLimits budget(uint64_t bytes, int64_t max_loaded = 0) {
  RuntimeLimits l;
  l.memory_budget = bytes;
  l.max_loaded = max_loaded;
  return l;
}

TEST(Lifecycle, EvictsIdleModelsLeastRecentlyUsedFirst) {
  Fixture f({sized("a", 100), sized("b", 100), sized("c", 100), sized("d", 100)}, budget(300));
  f.use("a");
  f.use("b");
  f.use("c");
  f.use("a");  // b is now the least recently used
  EXPECT_EQ(f.rt->memory().used, 300u);
  f.use("d");
  EXPECT_FALSE(f.loaded("b"));
  EXPECT_TRUE(f.loaded("a"));
  EXPECT_TRUE(f.loaded("c"));
  EXPECT_TRUE(f.loaded("d"));
  EXPECT_EQ(f.unloaded(UnloadReason::evicted), std::vector<std::string>{"b"});
  EXPECT_LE(f.rt->memory().used, 300u);
  auto d = f.record("d");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->estimated.total(), 100u);
  EXPECT_EQ(d->charged_bytes, 100u);
}

TEST(Lifecycle, NeverEvictsBusyOrPinnedModels) {
  auto pinned = sized("pinned", 100);
  pinned.pin = true;
  Fixture f({sized("busy", 100), pinned, sized("idle", 100), sized("new", 100), sized("more", 100)},
            budget(300));
  auto held = f.rt->embedding("busy");  // a handle held: busy
  ASSERT_TRUE(held.ok());
  f.clock->advance(1s);
  f.use("pinned");
  f.use("idle");
  f.use("new");  // only "idle" may go, although "busy" is older
  EXPECT_EQ(f.unloaded(UnloadReason::evicted), std::vector<std::string>{"idle"});
  EXPECT_TRUE(f.loaded("busy"));
  EXPECT_TRUE(f.loaded("pinned"));
  f.use("more");  // now "new" is the one idle model
  EXPECT_EQ(f.unloaded(UnloadReason::evicted), (std::vector<std::string>{"idle", "new"}));
  EXPECT_TRUE(f.loaded("busy"));
  EXPECT_TRUE(f.loaded("pinned"));
}

TEST(Lifecycle, NoRoomEvenAfterEvictingEveryIdleModelIsInsufficientMemoryNamingTheHolders) {
  auto p1 = sized("p1", 200);
  p1.pin = true;
  Fixture f({p1, sized("big", 200), sized("huge", 5000)}, budget(300));
  f.use("p1");
  auto r = f.rt->embedding("big");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::insufficient_memory);
  const std::string& m = r.error().message();
  EXPECT_NE(m.find("memory_budget"), std::string::npos) << m;
  EXPECT_NE(m.find("p1"), std::string::npos) << m;
  EXPECT_NE(m.find("pinned"), std::string::npos) << m;
  EXPECT_NE(m.find("200 B"), std::string::npos) << m;  // what the model needs
  auto huge = f.rt->embedding("huge");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code(), ErrorCode::insufficient_memory);
  EXPECT_NE(huge.error().message().find("more than the whole memory_budget"), std::string::npos);
  EXPECT_TRUE(f.loaded("p1"));
}

TEST(Lifecycle, ALoadWaitsForABusyModelToFinishThenEvictsIt) {
  Fixture f({sized("busy", 200), sized("next", 200)}, budget(300));
  auto held = f.rt->embedding("busy");
  ASSERT_TRUE(held.ok());
  std::thread loader([&] {
    AcquireOptions o;
    o.deadline = std::chrono::steady_clock::now() + 600s;
    auto h = f.rt->embedding("next", o);
    EXPECT_TRUE(h.ok()) << (h.ok() ? "" : h.error().to_string());
  });
  while (!(f.record("next") && f.record("next")->state == ModelState::loading)) std::this_thread::yield();
  EXPECT_TRUE(f.loaded("busy"));
  held = Error(ErrorCode::cancelled, "released");  // the call ends: "busy" becomes idle
  loader.join();
  EXPECT_TRUE(f.loaded("next"));
  EXPECT_FALSE(f.loaded("busy"));
  EXPECT_EQ(f.unloaded(UnloadReason::evicted), std::vector<std::string>{"busy"});
}

TEST(Lifecycle, AWaitForMemoryEndsAtTheDeadlineWithInsufficientMemory) {
  Fixture f({sized("busy", 200), sized("next", 200)}, budget(300));
  auto held = f.rt->embedding("busy");
  ASSERT_TRUE(held.ok());
  AcquireOptions o;
  o.deadline = std::chrono::steady_clock::now();  // already due: no wait
  auto r = f.rt->embedding("next", o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().code() == ErrorCode::insufficient_memory || r.error().code() == ErrorCode::timeout)
      << r.error().to_string();
  EXPECT_TRUE(f.loaded("busy"));
}

TEST(Lifecycle, ConcurrentLoadsNeverOvershootTheBudget) {
  constexpr int kModels = 8;
  std::vector<ModelSpec> specs;
  for (int i = 0; i < kModels; ++i) specs.push_back(sized("m" + std::to_string(i), 100));
  Fixture f(specs, budget(250));
  std::atomic<int> worst{0};
  // Inside each load: the models alive, the one loading included, never exceed what fits (2).
  f.provider->on_load = [&](const ModelSpec&) -> Result<void> {
    const int alive = f.provider->counters->loads.load() - f.provider->counters->destroyed.load();
    int w = worst.load();
    while (alive > w && !worst.compare_exchange_weak(w, alive)) {
    }
    return {};
  };
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        AcquireOptions o;
        o.deadline = std::chrono::steady_clock::now() + 600s;
        auto h = f.rt->embedding("m" + std::to_string((t + i) % kModels), o);
        if (!h.ok()) {
          ADD_FAILURE() << h.error().to_string();
          failures++;
          continue;
        }
        std::vector<std::string> in{"x"};
        if (!(*h)->embed(in).ok()) failures++;
        EXPECT_LE(f.rt->memory().used, 250u);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(worst.load(), 2);
  EXPECT_LE(f.rt->memory().used, 250u);
  EXPECT_FALSE(f.unloaded(UnloadReason::evicted).empty());
}

TEST(Lifecycle, MaxLoadedCountsRemoteModelsToo) {
  Fixture f({sized("r1", 0), sized("r2", 0), sized("r3", 0)}, budget(0, 2));
  f.use("r1");
  f.use("r2");
  f.use("r3");
  EXPECT_FALSE(f.loaded("r1"));
  EXPECT_EQ(f.rt->memory().loaded, 2);
  EXPECT_EQ(f.unloaded(UnloadReason::evicted), std::vector<std::string>{"r1"});
}

TEST(Lifecycle, KeepAliveExpiresOnTheInjectedClock) {
  auto a = sized("a", 10);
  a.keep_alive = 5min;
  auto zero = sized("zero", 10);
  zero.keep_alive = 0ms;
  auto pinned = sized("pinned", 10);
  pinned.keep_alive = 1ms;
  pinned.pin = true;
  Fixture f({a, zero, pinned, sized("forever", 10)}, budget(1000));
  f.use("a");
  f.use("pinned");
  f.use("forever");
  {
    auto rec = f.record("a");
    ASSERT_TRUE(rec && rec->expires_at);
    EXPECT_FALSE(f.record("forever")->expires_at);
  }
  f.clock->advance(4min);
  f.rt->expire_idle();
  EXPECT_TRUE(f.loaded("a"));
  f.clock->advance(2min);
  f.rt->expire_idle();
  EXPECT_FALSE(f.loaded("a"));
  EXPECT_TRUE(f.loaded("pinned"));
  EXPECT_TRUE(f.loaded("forever"));
  EXPECT_EQ(f.unloaded(UnloadReason::expired), std::vector<std::string>{"a"});

  // keep_alive = 0: gone as soon as the call's handle is released, with no time passing.
  {
    auto h = f.rt->embedding("zero");
    ASSERT_TRUE(h.ok());
    f.rt->expire_idle();
    EXPECT_TRUE(f.loaded("zero"));  // busy while held
  }
  f.rt->expire_idle();
  EXPECT_FALSE(f.loaded("zero"));
}

TEST(Lifecycle, ARequestsOwnKeepAliveOverridesTheAlias) {
  auto a = sized("a", 10);
  a.keep_alive = 1min;
  Fixture f({a}, budget(1000));
  AcquireOptions forever;
  forever.keep_alive = std::chrono::milliseconds(-1);
  ASSERT_TRUE(f.rt->embedding("a", forever).ok());
  f.clock->advance(10min);
  f.rt->expire_idle();
  EXPECT_TRUE(f.loaded("a"));
  AcquireOptions now;
  now.keep_alive = 0ms;
  ASSERT_TRUE(f.rt->embedding("a", now).ok());
  f.rt->expire_idle();
  EXPECT_FALSE(f.loaded("a"));
}

TEST(Lifecycle, PinAndKeepAliveThroughTheApi) {
  Fixture f({sized("a", 100), sized("b", 100), sized("c", 100)}, budget(200));
  f.use("a");
  ASSERT_TRUE(f.rt->pin("a", true).ok());
  f.use("b");
  f.use("c");  // a is older, but pinned: b goes
  EXPECT_TRUE(f.loaded("a"));
  EXPECT_FALSE(f.loaded("b"));
  ASSERT_TRUE(f.rt->pin("a", false).ok());
  f.use("b");
  EXPECT_FALSE(f.loaded("a"));
  EXPECT_EQ(f.rt->pin("nope", true).error().code(), ErrorCode::alias_not_found);

  ASSERT_TRUE(f.rt->set_keep_alive("b", 1s).ok());
  f.clock->advance(2s);
  f.rt->expire_idle();
  EXPECT_FALSE(f.loaded("b"));
  auto specs = f.rt->specs();
  auto it = std::find_if(specs.begin(), specs.end(), [](const ModelSpec& s) { return s.alias == "b"; });
  ASSERT_NE(it, specs.end());
  EXPECT_EQ(it->keep_alive, std::chrono::milliseconds(1000));
}

TEST(Lifecycle, AdHocIdsAreEvictedLikeAnyIdleModelAndFailedOnesAreBounded) {
  Fixture f({}, budget(250));
  for (int i = 0; i < 10; ++i) {
    auto h = f.rt->embedding("fake:adhoc" + std::to_string(i));
    ASSERT_TRUE(h.ok()) << h.error().to_string();
  }
  EXPECT_LE(f.rt->models().size(), 10u);
  // Ids whose load fails leave a bounded number of records behind.
  f.provider->on_load = [](const ModelSpec& s) -> Result<void> {
    if (s.model.starts_with("bad")) return Error(ErrorCode::model_load_failed, "bad");
    return {};
  };
  for (int i = 0; i < 200; ++i) EXPECT_FALSE(f.rt->embedding("fake:bad" + std::to_string(i)).ok());
  EXPECT_LE(f.rt->models().size(), 64u + 10u);
}

TEST(Lifecycle, LoadProgressBecomesLoadingEvents) {
  Fixture f({sized("a", 10)}, budget(1000));
  f.provider->on_bounded_load = [](const ModelSpec&, const ProgressCallback& progress,
                                   const LoadControl&) -> Result<void> {
    progress(0.0f, "reading");
    progress(0.5f, "reading");
    progress(1.0f, "loaded");
    return {};
  };
  f.use("a");
  std::lock_guard lock(f.mu);
  std::vector<float> seen;
  for (const auto& e : f.events)
    if (e.kind == ModelEventKind::loading) seen.push_back(e.progress);
  EXPECT_EQ(seen, (std::vector<float>{0.0f, 0.5f, 1.0f}));
}

// ------------------------------------------------------------------------------------------- swaps
std::string reply(ModelRuntime& rt, const std::string& alias) {
  auto g = rt.generator(alias);
  if (!g.ok()) return "error: " + g.error().to_string();
  GenerateRequest req;
  req.prompt = "hi";
  auto r = (*g)->generate(req);
  return r.ok() ? r->text : "error: " + r.error().to_string();
}

ModelSpec target(const std::string& alias, const std::string& model) {
  ModelSpec t;
  t.alias = alias;
  t.task = ModelTask::generate;
  t.model = model;
  return t;
}

TEST(Lifecycle, ASwapUnderConcurrentCallsLosesNoneAndServesTheOldModelUntilTheNewIsLoaded) {
  Fixture f({sized("chat", 100, ModelTask::generate, "m1")}, budget(1000));
  ASSERT_EQ(reply(*f.rt, "chat"), "reply from m1");
  std::latch new_loading(1), release_new(1);
  f.provider->on_load = [&](const ModelSpec& s) -> Result<void> {
    if (s.model == "m2") {
      new_loading.count_down();
      release_new.wait();
    }
    return {};
  };
  std::atomic<bool> stop{false}, swapped{false};
  std::atomic<int> errors{0}, old_after_swap{0}, calls{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&] {
      while (!stop) {
        const bool was_swapped = swapped.load();
        auto text = reply(*f.rt, "chat");
        calls++;
        if (text.starts_with("error")) errors++;
        if (was_swapped && text == "reply from m1") old_after_swap++;
      }
    });
  }
  std::thread swapper([&] {
    auto r = f.rt->swap(target("chat", "m2"), {"test", {}});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
    if (r.ok()) {
      EXPECT_TRUE(r->was_loaded);
    }
    swapped = true;
  });
  new_loading.wait();
  // While m2 loads, every call is still answered, by m1.
  const int before = calls.load();
  while (calls.load() < before + 20) std::this_thread::yield();
  EXPECT_EQ(reply(*f.rt, "chat"), "reply from m1");
  release_new.count_down();
  swapper.join();
  const int after = calls.load();
  while (calls.load() < after + 20) std::this_thread::yield();
  stop = true;
  for (auto& c : clients) c.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(old_after_swap.load(), 0);
  EXPECT_EQ(reply(*f.rt, "chat"), "reply from m2");
  EXPECT_FALSE(f.loaded("m1") && f.record("chat")->key.model == "m1");
  EXPECT_EQ(f.unloaded(UnloadReason::swapped).size(), 1u);
}

TEST(Lifecycle, AFailedSwapKeepsTheOldModelServing) {
  Fixture f({sized("chat", 100, ModelTask::generate, "m1")}, budget(1000));
  ASSERT_EQ(reply(*f.rt, "chat"), "reply from m1");
  f.provider->on_load = [](const ModelSpec& s) -> Result<void> {
    if (s.model == "broken") return Error(ErrorCode::model_load_failed, "broken file");
    return {};
  };
  auto r = f.rt->swap(target("chat", "broken"), {"test", {}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("broken file"), std::string::npos);
  EXPECT_EQ(reply(*f.rt, "chat"), "reply from m1");
  auto infos = f.rt->aliases();
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_EQ(infos[0].spec.model, "m1");
  EXPECT_EQ(infos[0].history.size(), 1u);
  EXPECT_TRUE(f.unloaded(UnloadReason::swapped).empty());
}

TEST(Lifecycle, ASwapWithoutRoomForBothLoadsTheNewModelAfterTheOldDrains) {
  Fixture f({sized("chat", 100, ModelTask::generate, "m1")}, budget(150));
  auto running = f.rt->generator("chat");  // a call in flight on m1
  ASSERT_TRUE(running.ok());
  std::optional<Result<SwapResult>> result;
  std::thread swapper([&] {
    ChangeOptions o{"test", {}};
    o.bounds.deadline = std::chrono::steady_clock::now() + 600s;
    auto t = target("chat", "m2");
    t.options["bytes"] = 100;
    result = f.rt->swap(t, o);
  });
  // The alias already points at m2 (its load waits for memory); the running call still has m1.
  while (!(f.record("chat") && f.record("chat")->key.model == "m2")) std::this_thread::yield();
  GenerateRequest req;
  req.prompt = "hi";
  EXPECT_EQ((*running)->generate(req)->text, "reply from m1");
  running = Error(ErrorCode::cancelled, "released");
  swapper.join();
  ASSERT_TRUE(result && result->ok()) << (result && !result->ok() ? result->error().to_string() : "");
  EXPECT_TRUE((*result)->drained);
  EXPECT_EQ(reply(*f.rt, "chat"), "reply from m2");
  EXPECT_LE(f.rt->memory().used, 150u);
}

TEST(Lifecycle, RollbackReturnsToThePreviousTargetAndHistoryRecordsWhoAndWhat) {
  Fixture f({sized("chat", 100, ModelTask::generate, "m1")}, budget(1000));
  ASSERT_EQ(reply(*f.rt, "chat"), "reply from m1");
  ASSERT_TRUE(f.rt->swap(target("chat", "m2"), {"alice", {}}).ok());
  EXPECT_EQ(reply(*f.rt, "chat"), "reply from m2");
  ASSERT_TRUE(f.rt->rollback("chat", {"bob", {}}).ok());
  EXPECT_EQ(reply(*f.rt, "chat"), "reply from m1");
  auto infos = f.rt->aliases();
  ASSERT_EQ(infos[0].history.size(), 3u);
  EXPECT_EQ(infos[0].history[1].spec.model, "m2");
  EXPECT_EQ(infos[0].history[1].by, "alice");
  EXPECT_EQ(infos[0].history[1].action, "swap");
  EXPECT_EQ(infos[0].history[2].spec.model, "m1");
  EXPECT_EQ(infos[0].history[2].by, "bob");
  EXPECT_EQ(infos[0].history[2].action, "rollback");
  // The options (the declared size) came back with the old target.
  EXPECT_EQ(infos[0].spec.options.value("bytes", 0), 100);
  auto none = Fixture({sized("x", 1)}, budget(10)).rt->rollback("x");
  EXPECT_EQ(none.error().code(), ErrorCode::invalid_input);
}

// ------------------------------------------------------------------------------------------ reload
Config config_of(const std::string& text) {
  auto c = parse_config(text, "xervo.toml");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().to_string());
  return c.ok() ? *c : Config{};
}

TEST(Lifecycle, ReloadAppliesTheDifferenceAndRefusesABrokenConfigWithoutChangingAnything) {
  const std::string v1 = R"(
[models.keep]
task = "generate"
provider = "fake"
model = "same"
[models.gone]
task = "embed"
provider = "fake"
model = "old"
[models.chat]
task = "generate"
provider = "fake"
model = "m1"
)";
  RuntimeBuilder b;
  auto provider = std::make_shared<FakeProvider>();
  b.add_provider(provider);
  b.add_config(config_of(v1));
  auto rt = b.build().value_or_throw();
  ASSERT_EQ(reply(*rt, "chat"), "reply from m1");

  const std::string v2 = R"(
[runtime]
max_loaded = 7
[models.keep]
task = "generate"
provider = "fake"
model = "same"
pin = true
[models.chat]
task = "generate"
provider = "fake"
model = "m2"
[models.added]
task = "embed"
provider = "fake"
model = "new"
)";
  auto report = rt->reload(config_of(v2), {"test", {}});
  ASSERT_TRUE(report.ok()) << report.error().to_string();
  EXPECT_EQ(report->added, std::vector<std::string>{"added"});
  EXPECT_EQ(report->removed, std::vector<std::string>{"gone"});
  EXPECT_EQ(report->swapped, std::vector<std::string>{"chat"});
  EXPECT_EQ(report->updated, std::vector<std::string>{"keep"});
  EXPECT_TRUE(report->failed.empty());
  EXPECT_EQ(reply(*rt, "chat"), "reply from m2");
  EXPECT_EQ(rt->limits().max_loaded, 7);
  EXPECT_EQ(rt->embedding("gone").error().code(), ErrorCode::alias_not_found);

  // A broken file (an unknown provider) changes nothing.
  const std::string broken = R"(
[models.chat]
task = "generate"
provider = "nope"
model = "m3"
)";
  auto bad = rt->reload(config_of(broken), {"test", {}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::provider_not_found);
  EXPECT_EQ(reply(*rt, "chat"), "reply from m2");
  EXPECT_EQ(rt->specs().size(), 3u);
  Config bad_runtime = config_of("[runtime]\nmemory_budget = \"lots\"\n");
  auto bad2 = rt->reload(bad_runtime, {});
  ASSERT_FALSE(bad2.ok());
  EXPECT_NE(bad2.error().message().find("xervo.toml:2"), std::string::npos) << bad2.error().message();
  EXPECT_EQ(rt->limits().max_loaded, 7);
  EXPECT_EQ(rt->specs().size(), 3u);
}

// -------------------------------------------------------------------------------------- [runtime]
TEST(LifecycleConfig, SizesAndDurations) {
  EXPECT_EQ(*parse_memory_size("12GiB", 0), 12ull << 30);
  EXPECT_EQ(*parse_memory_size("512 MB", 0), 512'000'000ull);
  EXPECT_EQ(*parse_memory_size(4096, 0), 4096u);
  EXPECT_EQ(*parse_memory_size("75%", 1000), 750u);
  for (const char* bad : {"lots", "-5GiB", "0%", "101%", "12XB", ""})
    EXPECT_EQ(parse_memory_size(bad, 1000).error().code(), ErrorCode::invalid_input) << bad;
  EXPECT_EQ(*parse_keep_alive("5m"), std::chrono::milliseconds(300'000));
  EXPECT_EQ(*parse_keep_alive("1h30m"), std::chrono::milliseconds(5'400'000));
  EXPECT_EQ(*parse_keep_alive("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(*parse_keep_alive(300), std::chrono::milliseconds(300'000));
  EXPECT_EQ(*parse_keep_alive("300"), std::chrono::milliseconds(300'000));
  EXPECT_EQ(*parse_keep_alive(-1), std::chrono::milliseconds(-1));
  EXPECT_EQ(*parse_keep_alive("-1"), std::chrono::milliseconds(-1));
  EXPECT_EQ(*parse_keep_alive(0), std::chrono::milliseconds(0));
  for (const char* bad : {"soon", "5x", "m5", "", "1e400"})
    EXPECT_EQ(parse_keep_alive(bad).error().code(), ErrorCode::invalid_input) << bad;
  EXPECT_FALSE(parse_keep_alive(nlohmann::json::array()).ok());
}

TEST(LifecycleConfig, RuntimeSectionAndAliasKeys) {
  auto c = config_of(R"(
[runtime]
memory_budget = "2GiB"
max_loaded = 3
keep_alive = "10m"
[models.a]
task = "embed"
provider = "fake"
model = "x"
pin = true
keep_alive = 30
)");
  auto limits = parse_runtime_limits(c);
  ASSERT_TRUE(limits.ok());
  EXPECT_EQ(limits->memory_budget, 2ull << 30);
  EXPECT_EQ(limits->max_loaded, 3);
  EXPECT_EQ(limits->keep_alive, std::chrono::minutes(10));
  ASSERT_EQ(c.models.size(), 1u);
  EXPECT_TRUE(c.models[0].pin);
  EXPECT_EQ(c.models[0].keep_alive, std::chrono::seconds(30));

  auto typo = parse_runtime_limits(config_of("[runtime]\nmemory_budgte = 1\n"));
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message().find("xervo.toml:2"), std::string::npos) << typo.error().message();
  EXPECT_NE(typo.error().message().find("unknown key"), std::string::npos);
  EXPECT_FALSE(parse_runtime_limits(config_of("[runtime]\nmax_loaded = -1\n")).ok());
  auto bad_alias =
      parse_config("[models.a]\ntask = \"embed\"\nmodel = \"x\"\nkeep_alive = \"soon\"\n", "x.toml");
  ASSERT_FALSE(bad_alias.ok());
  EXPECT_NE(bad_alias.error().message().find("x.toml:4"), std::string::npos) << bad_alias.error().message();
  // Without [runtime]: a budget of three quarters of the machine.
  EXPECT_EQ(default_runtime_limits().memory_budget, physical_memory_bytes() / 4 * 3);
  EXPECT_GT(default_runtime_limits().memory_budget, 0u);
}

}  // namespace
}  // namespace xervo
