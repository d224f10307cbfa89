// The pieces of src/cluster against a real redis-server (started by the test on a unix socket): two
// RedisClients stand for two replicas. Rate limits, cache entries, batch leases and revocations one
// of them writes are what the other sees; with Redis gone each call fails at once and the client
// reconnects by itself when Redis is back.
#include <gtest/gtest.h>

#include <thread>

#include "cluster/cluster.h"
#include "cluster_fixture.h"

namespace xervo::cluster {
namespace {

using namespace std::chrono_literals;
using testing::cluster::RedisProcess;

class SharedStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("xervo-shared-state-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    redis = std::make_unique<RedisProcess>(dir);
    auto endpoint = parse_redis_url(redis->url());
    ASSERT_TRUE(endpoint.ok()) << endpoint.error().message();
    a = std::make_shared<RedisClient>(*endpoint, 200ms);
    b = std::make_shared<RedisClient>(*endpoint, 200ms);
    ASSERT_TRUE(a->up() && b->up());
  }
  void TearDown() override {
    a.reset();
    b.reset();
    redis.reset();
    std::filesystem::remove_all(dir);
  }
  std::filesystem::path dir;
  std::unique_ptr<RedisProcess> redis;
  std::shared_ptr<RedisClient> a, b;
};

TEST(RedisUrl, ParsesTheFormsAndRefusesTheRestWithoutEchoingThePassword) {
  auto full = parse_redis_url("redis://:s3cret@redis.example:6380/2");
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->host, "redis.example");
  EXPECT_EQ(full->port, 6380);
  EXPECT_EQ(full->password, "s3cret");
  EXPECT_EQ(full->db, 2);
  auto v6 = parse_redis_url("redis://[::1]:7000");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 7000);
  EXPECT_EQ(parse_redis_url("redis://h")->port, 6379);
  EXPECT_EQ(parse_redis_url("unix:///run/redis.sock")->socket, "/run/redis.sock");
  for (const char* bad : {"http://h:1", "redis://", "redis://h:0", "redis://h:99999", "redis://h:x",
                          "redis://:pw@h/zz", "unix://relative", "redis://[::1"}) {
    auto r = parse_redis_url(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().message().find("pw"), std::string::npos);
    }
  }
  EXPECT_FALSE(parse_redis_url(std::string(5000, 'x')).ok());
}

TEST(ClusterOptions, OffWithoutRedisUrlAndStrictAboutKeys) {
  auto off = parse_cluster_options(nlohmann::json::object());
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->has_value());
  auto on =
      parse_cluster_options({{"redis_url", "redis://127.0.0.1"}, {"batch_lease_s", 5}, {"timeout_ms", 50}});
  ASSERT_TRUE(on.ok()) << on.error().message();
  ASSERT_TRUE(on->has_value());
  EXPECT_EQ((*on)->batch_lease, std::chrono::seconds(5));
  EXPECT_FALSE(parse_cluster_options({{"redis_url", "redis://h"}, {"typo", 1}}).ok());
  EXPECT_FALSE(parse_cluster_options({{"redis_url", "redis://h"}, {"timeout_ms", 0}}).ok());
  EXPECT_FALSE(parse_cluster_options({{"redis_url", 5}}).ok());
  EXPECT_FALSE(parse_cluster_options({{"redis_url", "redis://h"}, {"replica_id", "a b"}}).ok());
}

TEST_F(SharedStateTest, ARateLimitIsOneBucketForAllReplicas) {
  SharedRateLimits one(*a, "t:"), two(*b, "t:");
  server::RateLimit limit{4, 0};
  EXPECT_EQ(one.admit("key:k", limit), 0);
  EXPECT_EQ(two.admit("key:k", limit), 0);
  EXPECT_EQ(one.admit("key:k", limit), 0);
  EXPECT_EQ(two.admit("key:k", limit), 0);
  auto refused = one.admit("key:k", limit);
  ASSERT_TRUE(refused.has_value());
  EXPECT_GE(*refused, 1);
  EXPECT_GE(*two.admit("key:k", limit), 1);
  EXPECT_EQ(one.admit("key:other", limit), 0);  // buckets are per client
  // Tokens charged on one replica hold back the next request on the other.
  server::RateLimit tokens{0, 100};
  EXPECT_EQ(one.admit("key:t", tokens), 0);
  EXPECT_TRUE(one.charge_tokens("key:t", tokens, 150));
  EXPECT_GE(*two.admit("key:t", tokens), 1);
}

TEST_F(SharedStateTest, ACacheEntryWrittenByOneReplicaIsReadByAnother) {
  RedisCacheTier one(a, "t:", 60s, 1024), two(b, "t:", 60s, 1024);
  EXPECT_FALSE(two.get("00ff").has_value());
  one.put("00ff", std::string("value\0with nul", 14));
  auto got = two.get("00ff");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, std::string("value\0with nul", 14));
  one.put("big", std::string(2048, 'x'));  // over max_entry_bytes: stays local
  EXPECT_FALSE(two.get("big").has_value());
  two.clear();
  EXPECT_FALSE(one.get("00ff").has_value());
}

TEST_F(SharedStateTest, ABatchLeaseHasOneHolderAndMovesWhenItExpires) {
  RedisBatchLeases one(*a, "t:", "r1", 2s), two(*b, "t:", "r2", 2s);
  EXPECT_TRUE(one.acquire("batch_1"));
  EXPECT_FALSE(two.acquire("batch_1"));
  EXPECT_TRUE(one.acquire("batch_1"));  // renewal
  one.release("batch_1");
  EXPECT_TRUE(two.acquire("batch_1"));
  // The holder dies (stops renewing): once the lease expires the other replica takes it.
  EXPECT_FALSE(one.acquire("batch_1"));
  std::this_thread::sleep_for(2500ms);
  EXPECT_TRUE(one.acquire("batch_1"));
}

TEST_F(SharedStateTest, ARevocationOnOneReplicaReachesTheOther) {
  KeyRevocations one(*a, "t:"), two(*b, "t:");
  const std::string hash(64, 'a');
  one.revoke(hash);
  EXPECT_TRUE(one.revoked(hash));  // at once where it was revoked
  EXPECT_FALSE(two.revoked(hash));
  ASSERT_TRUE(one.refresh());
  ASSERT_TRUE(two.refresh());
  EXPECT_TRUE(two.revoked(hash));
  one.revoke("not a hash");  // ignored
  EXPECT_FALSE(one.revoked("not a hash"));
}

TEST_F(SharedStateTest, RedisGoneFailsFastAndTheClientReconnects) {
  redis->stop();
  EXPECT_FALSE(a->command({"PING"}).has_value());
  EXPECT_FALSE(a->command({"PING"}).has_value());
  EXPECT_FALSE(a->up());
  SharedRateLimits limits(*a, "t:");
  EXPECT_FALSE(limits.admit("key:k", {5, 0}).has_value());  // the caller decides locally
  redis->start();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!a->up() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(a->up());
  auto pong = a->command({"PING"});
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->str, "PONG");
}

}  // namespace
}  // namespace xervo::cluster
