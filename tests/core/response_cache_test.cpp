// The response cache: its tiers (bounds, restart, corrupt and expired disk entries), single flight,
// and the runtime's use of it (embeddings per input, generations when deterministic, streamed
// replay, caller policy, fallbacks never cached under the primary).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <latch>
#include <thread>

#include "core/response_cache.h"
#include "fake_provider.h"
#include "xervo/runtime.h"

namespace xervo {
namespace {

namespace fs = std::filesystem;
using testing::fake_spec;
using testing::FakeProvider;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("xervo-cache-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

CacheOptions options_in(const fs::path& dir) {
  CacheOptions o;
  o.enabled = true;
  o.dir = dir;
  return o;
}

fs::path only_entry(const fs::path& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".zst") return e.path();
  return {};
}

TEST(ResponseCache, MemoryTierEvictsLeastRecentlyUsedPastItsBound) {
  CacheOptions o;
  o.enabled = true;
  o.disk_bytes = 0;
  o.memory_bytes = 4 * (1000 + 200);  // room for about four 1000-byte values (and their overhead)
  ResponseCache cache(o);
  auto key = [](int i) { return ResponseCache::digest("k" + std::to_string(i)); };
  for (int i = 0; i < 3; ++i) cache.put(key(i), std::string(1000, 'a' + i));
  ASSERT_TRUE(cache.get(key(0)));  // 0 is now the most recent
  for (int i = 3; i < 6; ++i) cache.put(key(i), std::string(1000, 'a' + i));
  EXPECT_TRUE(cache.get(key(0)));
  EXPECT_FALSE(cache.get(key(1)));
  EXPECT_EQ(*cache.get(key(5)), std::string(1000, 'f'));
  auto s = cache.stats();
  EXPECT_LE(s.memory.bytes, o.memory_bytes);
  EXPECT_GT(s.memory.evictions, 0u);
}

TEST(ResponseCache, DiskTierSurvivesARestart) {
  TempDir dir;
  const auto key = ResponseCache::digest("question");
  {
    ResponseCache cache(options_in(dir.path()));
    cache.put(key, "answer");
  }
  ResponseCache again(options_in(dir.path()));
  EXPECT_EQ(again.stats().disk.entries, 1u);
  auto v = again.get(key);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, "answer");
  EXPECT_EQ(again.stats().disk.hits, 1u);
}

TEST(ResponseCache, TruncatedOrGarbledDiskEntryIsAMissAndIsRemoved) {
  for (int damage = 0; damage < 3; ++damage) {
    TempDir dir;
    const auto key = ResponseCache::digest("q");
    {
      ResponseCache cache(options_in(dir.path()));
      cache.put(key, std::string(5000, 'x'));
    }
    const fs::path file = only_entry(dir.path());
    ASSERT_FALSE(file.empty());
    if (damage == 0) {
      fs::resize_file(file, fs::file_size(file) / 2);  // truncated
    } else if (damage == 1) {
      std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(fs::file_size(file) - 3));
      f.write("zzz", 3);  // compressed bytes changed
    } else {
      std::ofstream(file, std::ios::binary | std::ios::trunc) << "not a cache entry at all";
    }
    ResponseCache cache(options_in(dir.path()));
    EXPECT_FALSE(cache.get(key)) << "damage " << damage;
    EXPECT_EQ(cache.stats().disk.corrupt, 1u) << "damage " << damage;
    EXPECT_FALSE(fs::exists(file)) << "damage " << damage;
  }
}

TEST(ResponseCache, DiskEntryPastItsTtlIsAMiss) {
  TempDir dir;
  const auto key = ResponseCache::digest("old");
  auto o = options_in(dir.path());
  o.ttl = std::chrono::hours(1);
  {
    ResponseCache cache(o);
    cache.put(key, "stale");
  }
  // Back-date the entry's creation time (header bytes 24..31) by two hours.
  const fs::path file = only_entry(dir.path());
  std::string blob;
  {
    std::ifstream in(file, std::ios::binary);
    blob.assign(std::istreambuf_iterator<char>(in), {});
  }
  uint64_t created = 0;
  for (int i = 7; i >= 0; --i) created = (created << 8) | static_cast<unsigned char>(blob[24 + i]);
  created -= 7200;
  for (int i = 0; i < 8; ++i) blob[24 + i] = static_cast<char>((created >> (8 * i)) & 0xff);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << blob;

  ResponseCache cache(o);
  EXPECT_FALSE(cache.get(key));
  EXPECT_EQ(cache.stats().disk.corrupt, 0u);  // expired is not corrupt
  EXPECT_FALSE(fs::exists(file));
}

TEST(ResponseCache, DiskTierStaysWithinItsBound) {
  TempDir dir;
  auto o = options_in(dir.path());
  o.memory_bytes = 0;
  o.disk_bytes = 20000;
  o.zstd_level = 1;
  ResponseCache cache(o);
  std::string incompressible;
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 3000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    incompressible.push_back(static_cast<char>(x));
  }
  for (int i = 0; i < 20; ++i) cache.put(ResponseCache::digest(std::to_string(i)), incompressible);
  auto s = cache.stats();
  EXPECT_LE(s.disk.bytes, o.disk_bytes);
  EXPECT_GT(s.disk.evictions, 0u);
  uint64_t on_disk = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir.path()))
    if (e.is_regular_file()) on_disk += e.file_size();
  EXPECT_EQ(on_disk, s.disk.bytes);
}

TEST(ResponseCache, IdenticalCallsInFlightComputeOnce) {
  CacheOptions o;
  o.enabled = true;
  o.disk_bytes = 0;
  ResponseCache cache(o);
  const auto key = ResponseCache::digest("same");
  std::latch entered(1), release(1);
  std::atomic<int> computed{0};
  std::optional<std::string> first, second;
  bool first_hit = true, second_hit = false;
  std::thread leader([&] {
    first = cache.compute_once(
        key, {},
        [&]() -> std::optional<std::string> {
          ++computed;
          entered.count_down();
          release.wait();
          return "value";
        },
        &first_hit);
  });
  entered.wait();
  std::thread joiner([&] {
    second = cache.compute_once(
        key, {},
        [&]() -> std::optional<std::string> {
          ++computed;
          return "other";
        },
        &second_hit);
  });
  // The joiner is waiting on the leader's flight once `joined` counts it.
  while (cache.stats().joined == 0) std::this_thread::yield();
  release.count_down();
  leader.join();
  joiner.join();
  EXPECT_EQ(computed.load(), 1);
  EXPECT_EQ(first, "value");
  EXPECT_EQ(second, "value");
  EXPECT_FALSE(first_hit);
  EXPECT_TRUE(second_hit);
}

// ---------------------------------------------------------------------------------------------------
class CachedRuntime : public ::testing::Test {
 protected:
  std::shared_ptr<FakeProvider> provider = std::make_shared<FakeProvider>();
  std::shared_ptr<ModelRuntime> runtime;

  void build(std::vector<ModelSpec> specs, bool cache = true) {
    RuntimeBuilder b;
    b.add_provider(provider);
    for (auto& s : specs) b.add_spec(s);
    CacheOptions o;
    o.enabled = cache;
    o.disk_bytes = 0;
    b.set_cache(o);
    auto built = b.build();
    ASSERT_TRUE(built.ok()) << built.error().to_string();
    runtime = *built;
  }
};

TEST_F(CachedRuntime, EmbeddingsAreComputedOnlyForInputsNotSeenBefore) {
  build({fake_spec("embed/a")});
  auto h = runtime->embedding("embed/a").value();
  std::vector<std::string> first{"alpha", "beta", "gamma", "delta"};
  auto r1 = h->embed(first).value();
  EXPECT_EQ(provider->counters->inputs.load(), 4);
  EXPECT_EQ(r1.usage.cached, 0);

  std::vector<std::string> second{"alpha", "epsilon", "gamma", "zeta"};
  auto r2 = h->embed(second).value();
  EXPECT_EQ(provider->counters->inputs.load(), 6);  // only epsilon and zeta
  EXPECT_EQ(r2.usage.cached, 2);
  ASSERT_EQ(r2.vectors.size(), 4u);
  EXPECT_EQ(r2.vectors[0], r1.vectors[0]);
  EXPECT_EQ(r2.vectors[2], r1.vectors[2]);
  EXPECT_EQ(r2.vectors[1], std::vector<float>(4, 7.0f));  // the fake's vector: the input's length

  auto r3 = h->embed(second).value();
  EXPECT_EQ(provider->counters->inputs.load(), 6);
  EXPECT_EQ(r3.usage.cached, 4);
}

TEST_F(CachedRuntime, CallerPolicyCanSkipTheLookupOrTheStore) {
  build({fake_spec("embed/a")});
  std::vector<std::string> in{"one"};
  AcquireOptions no_store;
  no_store.cache.write = false;
  runtime->embedding("embed/a", no_store).value()->embed(in).value();
  runtime->embedding("embed/a").value()->embed(in).value();  // nothing was kept: computed again
  EXPECT_EQ(provider->counters->inputs.load(), 2);
  AcquireOptions no_cache;
  no_cache.cache.read = false;
  auto fresh = runtime->embedding("embed/a", no_cache).value()->embed(in).value();
  EXPECT_EQ(provider->counters->inputs.load(), 3);
  EXPECT_EQ(fresh.usage.cached, 0);
}

TEST_F(CachedRuntime, OffByDefault) {
  build({fake_spec("embed/a")}, false);
  std::vector<std::string> in{"one"};
  runtime->embedding("embed/a").value()->embed(in).value();
  runtime->embedding("embed/a").value()->embed(in).value();
  EXPECT_EQ(provider->counters->inputs.load(), 2);
  EXPECT_FALSE(runtime->cache_stats().enabled);
}

TEST_F(CachedRuntime, GreedyAndSeededGenerationsAreCachedSampledOnesAreNot) {
  build({fake_spec("chat/a", ModelTask::generate)});
  auto h = runtime->generator("chat/a").value();
  GenerateRequest greedy;
  greedy.prompt = "hi";
  greedy.options.temperature = 0;
  EXPECT_EQ(h->generate(greedy).value().usage.cached, 0);
  auto again = h->generate(greedy).value();
  EXPECT_EQ(again.usage.cached, 1);
  EXPECT_EQ(again.text, "reply from m1");
  EXPECT_EQ(provider->counters->calls.load(), 1);

  GenerateRequest sampled = greedy;
  sampled.options.temperature = 0.8f;
  h->generate(sampled).value();
  h->generate(sampled).value();
  EXPECT_EQ(provider->counters->calls.load(), 3);

  sampled.options.seed = 42;
  h->generate(sampled).value();
  h->generate(sampled).value();
  EXPECT_EQ(provider->counters->calls.load(), 4);

  GenerateRequest other = greedy;
  other.options.max_tokens = 7;  // a different request is a different answer
  h->generate(other).value();
  EXPECT_EQ(provider->counters->calls.load(), 5);
}

TEST_F(CachedRuntime, AliasCanOptOutOrIntoSampledGenerations) {
  auto off = fake_spec("chat/off", ModelTask::generate);
  off.cache = false;
  auto all = fake_spec("chat/all", ModelTask::generate, "m2");
  all.cache = true;
  build({off, all});
  GenerateRequest greedy;
  greedy.prompt = "hi";
  greedy.options.temperature = 0;
  runtime->generator("chat/off").value()->generate(greedy).value();
  runtime->generator("chat/off").value()->generate(greedy).value();
  EXPECT_EQ(provider->counters->calls.load(), 2);
  GenerateRequest sampled;
  sampled.prompt = "hi";
  runtime->generator("chat/all").value()->generate(sampled).value();
  EXPECT_EQ(runtime->generator("chat/all").value()->generate(sampled).value().usage.cached, 1);
  EXPECT_EQ(provider->counters->calls.load(), 3);
}

TEST_F(CachedRuntime, StreamedAnswerIsReplayedInTheSamePieces) {
  build({fake_spec("chat/a", ModelTask::generate)});
  auto h = runtime->generator("chat/a").value();
  GenerateRequest req;
  req.prompt = "hi";
  req.options.temperature = 0;
  std::vector<std::string> first, second;
  h->generate(req, [&](std::string_view p) {
     first.emplace_back(p);
     return true;
   }).value();
  auto r = h->generate(req, [&](std::string_view p) {
              second.emplace_back(p);
              return true;
            }).value();
  EXPECT_EQ(r.usage.cached, 1);
  EXPECT_EQ(first, second);
  EXPECT_EQ(first, std::vector<std::string>{"reply from m1"});
  // A streamed hit of an answer first computed without streaming streams it whole.
  GenerateRequest plain = req;
  plain.prompt = "other";
  h->generate(plain).value();
  std::vector<std::string> replayed;
  h->generate_deltas(plain, [&](const GenerateDelta& d) {
     replayed.push_back(d.content);
     return true;
   }).value();
  EXPECT_EQ(replayed, std::vector<std::string>{"reply from m1"});
  EXPECT_EQ(provider->counters->calls.load(), 2);
}

TEST_F(CachedRuntime, FallbackAnswersAreNotKeptUnderThePrimary) {
  auto primary = fake_spec("embed/primary", ModelTask::embed, "broken");
  primary.options["fail_calls"] = "unavailable";
  primary.fallbacks = {"embed/backup"};
  build({primary, fake_spec("embed/backup", ModelTask::embed, "ok")});
  std::vector<std::string> in{"text"};
  auto r = runtime->embedding("embed/primary").value()->embed(in).value();
  EXPECT_EQ(r.served_by, "embed/backup");
  auto r2 = runtime->embedding("embed/primary").value()->embed(in).value();
  EXPECT_EQ(r2.served_by, "embed/backup");
  // The primary was asked both times (its failure is not cached, the backup's answer not taken as
  // its own); the backup's own cache answered the second time.
  EXPECT_EQ(provider->counters->calls.load(), 3);
}

TEST_F(CachedRuntime, ANewModelFileIsANewIdentity) {
  build({fake_spec("embed/a", ModelTask::embed, "v1")});
  std::vector<std::string> in{"text"};
  runtime->embedding("embed/a").value()->embed(in).value();
  auto target = fake_spec("embed/a", ModelTask::embed, "v2");
  ASSERT_TRUE(runtime->swap(target).ok());
  auto r = runtime->embedding("embed/a").value()->embed(in).value();
  EXPECT_EQ(r.usage.cached, 0);
  EXPECT_EQ(provider->counters->inputs.load(), 2);
}

TEST(CacheConfig, ParsesSizesAndRefusesUnknownKeys) {
  auto config = parse_config("[cache]\nenabled = true\nmemory = \"64MiB\"\ndisk = 0\nttl = \"2h\"\n");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  auto o = parse_cache_options(*config);
  ASSERT_TRUE(o.ok()) << o.error().to_string();
  EXPECT_TRUE(o->enabled);
  EXPECT_EQ(o->memory_bytes, 64ull << 20);
  EXPECT_EQ(o->disk_bytes, 0u);
  EXPECT_EQ(o->ttl, std::chrono::hours(2));
  auto bad = parse_cache_options(*parse_config("[cache]\nsize = 3\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("cache.size"), std::string::npos);
  auto alias = parse_config("[models.\"e\"]\ntask = \"embed\"\nmodel = \"/x.gguf\"\ncache = false\n");
  ASSERT_TRUE(alias.ok()) << alias.error().to_string();
  EXPECT_EQ(alias->models[0].cache, std::optional<bool>(false));
}

}  // namespace
}  // namespace xervo
