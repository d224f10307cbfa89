// Warm-up policies, events, resolution errors and fallbacks of ModelRuntime.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "fake_provider.h"
#include "xervo/runtime.h"

namespace xervo {
namespace {

using testing::fake_spec;
using testing::FakeProvider;

TEST(Runtime, EagerLoadHappensInBuild) {
  auto p = std::make_shared<FakeProvider>();
  auto s = fake_spec("embed/a");
  s.warmup = WarmupPolicy::eager;
  RuntimeBuilder b;
  b.add_provider(p).add_spec(s).add_spec(fake_spec("embed/lazy", ModelTask::embed, "other"));
  auto rt = b.build();
  ASSERT_TRUE(rt.ok());
  EXPECT_EQ(p->counters->loads.load(), 1);
  EXPECT_TRUE((*rt)->ready());
}

TEST(Runtime, EagerFailureMakesBuildFail) {
  auto p = std::make_shared<FakeProvider>();
  p->on_load = [](const ModelSpec&) -> Result<void> {
    return Error(ErrorCode::model_load_failed, "bad file");
  };
  auto s = fake_spec("embed/a");
  s.warmup = WarmupPolicy::eager;
  RuntimeBuilder b;
  b.add_provider(p).add_spec(s);
  auto rt = b.build();
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.error().code(), ErrorCode::model_load_failed);
  EXPECT_NE(rt.error().message().find("embed/a"), std::string::npos);
  EXPECT_NE(rt.error().message().find("bad file"), std::string::npos);
}

TEST(Runtime, BackgroundFailureLeavesOtherAliasesServing) {
  auto p = std::make_shared<FakeProvider>();
  p->on_load = [](const ModelSpec& s) -> Result<void> {
    if (s.model == "broken") return Error(ErrorCode::model_load_failed, "broken on purpose");
    return {};
  };
  auto bad = fake_spec("embed/bad", ModelTask::embed, "broken");
  bad.warmup = WarmupPolicy::background;
  auto good = fake_spec("embed/good", ModelTask::embed, "fine");
  good.warmup = WarmupPolicy::background;
  RuntimeBuilder b;
  b.add_provider(p).add_spec(bad).add_spec(good);
  auto rt = b.build();
  ASSERT_TRUE(rt.ok());  // background failures never fail build()
  (*rt)->wait_for_background_loads();
  EXPECT_EQ(p->counters->loads.load(), 2);
  EXPECT_FALSE((*rt)->ready());
  bool saw_failed = false, saw_loaded = false;
  for (const auto& r : (*rt)->models()) {
    if (r.key.model == "broken") saw_failed = r.state == ModelState::failed && r.error.has_value();
    if (r.key.model == "fine") saw_loaded = r.state == ModelState::loaded;
  }
  EXPECT_TRUE(saw_failed);
  EXPECT_TRUE(saw_loaded);
  auto h = (*rt)->embedding("embed/good");
  ASSERT_TRUE(h.ok());
  std::vector<std::string> in{"x"};
  EXPECT_TRUE((*h)->embed(in).ok());
}

TEST(Runtime, WrongTaskIsCapabilityMismatchNamingBothTasks) {
  auto p = std::make_shared<FakeProvider>();
  RuntimeBuilder b;
  b.add_provider(p).add_spec(fake_spec("chat/a", ModelTask::generate));
  auto rt = *b.build();
  auto h = rt->embedding("chat/a");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code(), ErrorCode::capability_mismatch);
  EXPECT_NE(h.error().message().find("generate"), std::string::npos);
  EXPECT_NE(h.error().message().find("embed"), std::string::npos);
  EXPECT_EQ(p->counters->loads.load(), 0);
}

TEST(Runtime, UnknownAliasListsKnownOnes) {
  auto p = std::make_shared<FakeProvider>();
  RuntimeBuilder b;
  b.add_provider(p).add_spec(fake_spec("embed/a")).add_spec(fake_spec("embed/b", ModelTask::embed, "m2"));
  auto rt = *b.build();
  auto h = rt->embedding("embed/zzz");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code(), ErrorCode::alias_not_found);
  EXPECT_NE(h.error().message().find("embed/a, embed/b"), std::string::npos) << h.error().message();
}

TEST(Runtime, UnknownProviderListsRegisteredOnes) {
  auto p = std::make_shared<FakeProvider>();
  auto s = fake_spec("embed/a");
  s.provider = "nosuch";
  RuntimeBuilder b;
  b.add_provider(p).add_provider(std::make_shared<FakeProvider>("other")).add_spec(s);
  auto rt = b.build();
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.error().code(), ErrorCode::provider_not_found);
  EXPECT_NE(rt.error().message().find("fake, other"), std::string::npos) << rt.error().message();
}

TEST(Runtime, ProviderPrefixedIdsResolveWithoutAnAlias) {
  auto p = std::make_shared<FakeProvider>();
  RuntimeBuilder b;
  b.add_provider(p);
  auto rt = *b.build();
  auto h = rt->generator("fake:some-model");
  ASSERT_TRUE(h.ok()) << h.error().to_string();
  auto r = (*h)->generate(GenerateRequest{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->text, "reply from some-model");
  EXPECT_EQ(r->served_by, "fake:some-model");
}

TEST(Runtime, EventsReportLoadFailureAndUnloadOutsideLocks) {
  auto p = std::make_shared<FakeProvider>();
  p->on_load = [](const ModelSpec& s) -> Result<void> {
    if (s.model == "broken") return Error(ErrorCode::model_load_failed, "nope");
    return {};
  };
  RuntimeBuilder b;
  b.add_provider(p)
      .add_spec(fake_spec("embed/a"))
      .add_spec(fake_spec("embed/bad", ModelTask::embed, "broken"));
  auto rt = *b.build();
  std::mutex mu;
  std::vector<std::pair<ModelEventKind, std::string>> seen;
  rt->subscribe([&](const ModelEvent& e) {
    // Calling back into the runtime from a subscriber must not deadlock.
    (void)rt->models();
    std::lock_guard lock(mu);
    seen.emplace_back(e.kind, e.record.key.model);
  });
  rt->subscribe([](const ModelEvent&) { throw std::runtime_error("a broken subscriber"); });
  ASSERT_TRUE(rt->embedding("embed/a").ok());
  ASSERT_FALSE(rt->embedding("embed/bad").ok());
  ASSERT_TRUE(rt->unload("embed/a").ok());
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], std::make_pair(ModelEventKind::loaded, std::string("m1")));
  EXPECT_EQ(seen[1], std::make_pair(ModelEventKind::failed, std::string("broken")));
  EXPECT_EQ(seen[2], std::make_pair(ModelEventKind::unloaded, std::string("m1")));
}

TEST(Runtime, FallbackServesWhenPrimaryIsUnavailable) {
  // Two providers so that each side counts its own calls.
  auto p = std::make_shared<FakeProvider>();
  auto q = std::make_shared<FakeProvider>("fake2");
  auto primary = fake_spec("embed/primary", ModelTask::embed, "p");
  primary.options = {{"fail_calls", "unavailable"}};
  primary.fallbacks = {"embed/backup"};
  auto backup = fake_spec("embed/backup", ModelTask::embed, "b");
  backup.provider = "fake2";
  RuntimeBuilder b;
  b.add_provider(p).add_provider(q).add_spec(primary).add_spec(backup);
  auto rt = *b.build();
  auto h = rt->embedding("embed/primary");
  ASSERT_TRUE(h.ok());
  std::vector<std::string> in{"abc", "hello"};
  auto r = (*h)->embed(in);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->served_by, "embed/backup");
  // The result is the backup's: one vector per input, with its values.
  ASSERT_EQ(r->vectors.size(), 2u);
  EXPECT_EQ(r->dimensions, 4);
  EXPECT_EQ(r->vectors[0], std::vector<float>(4, 3.0f));
  EXPECT_EQ(r->vectors[1], std::vector<float>(4, 5.0f));
  EXPECT_EQ(p->counters->calls.load(), 1);
  EXPECT_EQ(q->counters->calls.load(), 1);
}

TEST(Runtime, NonRetryableErrorsDoNotFallBackUnlessAsked) {
  auto p = std::make_shared<FakeProvider>();
  auto primary = fake_spec("embed/primary", ModelTask::embed, "p");
  primary.options = {{"fail_calls", "unauthorized"}};
  primary.fallbacks = {"embed/backup"};
  auto eager = primary;
  eager.alias = "embed/any";
  eager.fallback_on_any_error = true;
  RuntimeBuilder b;
  b.add_provider(p).add_spec(primary).add_spec(eager).add_spec(
      fake_spec("embed/backup", ModelTask::embed, "b"));
  auto rt = *b.build();
  std::vector<std::string> in{"abc"};
  auto r = (*rt->embedding("embed/primary"))->embed(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::unauthorized);
  auto r2 = (*rt->embedding("embed/any"))->embed(in);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->served_by, "embed/backup");
}

TEST(Runtime, FallbackWithAnotherTaskOrDimensionIsRefusedAtBuild) {
  auto p = std::make_shared<FakeProvider>();
  auto primary = fake_spec("embed/primary");
  primary.fallbacks = {"chat/x"};
  RuntimeBuilder b;
  b.add_provider(p).add_spec(primary).add_spec(fake_spec("chat/x", ModelTask::generate));
  auto rt = b.build();
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.error().code(), ErrorCode::config_invalid);
  EXPECT_NE(rt.error().message().find("same task"), std::string::npos);

  auto a = fake_spec("embed/a");
  a.options = {{"dimensions", 4}};
  a.fallbacks = {"embed/b"};
  auto bspec = fake_spec("embed/b", ModelTask::embed, "m2");
  bspec.options = {{"dimensions", 8}};
  RuntimeBuilder b2;
  b2.add_provider(p).add_spec(a).add_spec(bspec);
  auto rt2 = b2.build();
  ASSERT_FALSE(rt2.ok());
  EXPECT_NE(rt2.error().message().find("dimensions"), std::string::npos);
}

TEST(Runtime, FallbackWithOtherVectorSizeAtRunTimeIsRejected) {
  auto p = std::make_shared<FakeProvider>();
  auto q = std::make_shared<FakeProvider>("fake2");
  auto primary = fake_spec("embed/primary", ModelTask::embed, "p");
  primary.options = {{"fail_calls", "unavailable"}};
  primary.fallbacks = {"embed/wide"};
  auto wide = fake_spec("embed/wide", ModelTask::embed, "w");
  wide.provider = "fake2";
  wide.options = {{"dimensions", 16}};
  RuntimeBuilder b;
  b.add_provider(p).add_provider(q).add_spec(primary).add_spec(wide);
  auto rt = b.build();
  ASSERT_TRUE(rt.ok());  // primary declares no dimensions, so only the run-time check can catch it
  std::vector<std::string> in{"abc"};
  auto r = (*(*rt)->embedding("embed/primary"))->embed(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::unavailable);  // the primary's own error
  // The fallback did run and answer: its 16-dimensional answer is what was refused.
  EXPECT_EQ(p->counters->calls.load(), 1);
  EXPECT_EQ(q->counters->loads.load(), 1);
  EXPECT_EQ(q->counters->calls.load(), 1);
}

TEST(Runtime, NullProviderIsAConfigErrorFromBuild) {
  auto p = std::make_shared<FakeProvider>();
  RuntimeBuilder b;
  b.add_provider(nullptr).add_provider(p).add_spec(fake_spec("embed/a"));
  auto rt = b.build();
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.error().code(), ErrorCode::config_invalid);
  EXPECT_NE(rt.error().message().find("null"), std::string::npos) << rt.error().message();
}

TEST(Runtime, ProviderWithAnEmptyIdIsAConfigErrorFromBuild) {
  RuntimeBuilder b;
  b.add_provider(std::make_shared<FakeProvider>(""));
  auto rt = b.build();
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.error().code(), ErrorCode::config_invalid);
  EXPECT_NE(rt.error().message().find("empty id"), std::string::npos) << rt.error().message();
}

TEST(Errors, EveryCodeHasOneStatusAndAName) {
  EXPECT_EQ(http_status(ErrorCode::alias_not_found), 404);
  EXPECT_EQ(http_status(ErrorCode::rate_limited), 429);
  EXPECT_EQ(http_status(ErrorCode::unauthorized), 401);
  EXPECT_EQ(http_status(ErrorCode::forbidden), 403);
  EXPECT_EQ(http_status(ErrorCode::unavailable), 503);
  EXPECT_EQ(http_status(ErrorCode::timeout), 504);
  for (int c = 0; c <= static_cast<int>(ErrorCode::internal); ++c) {
    auto code = static_cast<ErrorCode>(c);
    EXPECT_EQ(parse_error_code(to_string(code)), code);
  }
  EXPECT_TRUE(is_retryable(ErrorCode::rate_limited));
  EXPECT_FALSE(is_retryable(ErrorCode::invalid_input));
  EXPECT_FALSE(is_retryable(ErrorCode::unauthorized));
}

}  // namespace
}  // namespace xervo
