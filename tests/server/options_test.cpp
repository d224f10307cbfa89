// [server] parsing, key hashing and the rate limiter's buckets.
#include <gtest/gtest.h>

#include "server/rate_limiter.h"
#include "xervo/config.h"
#include "xervo/server.h"

namespace xervo {
namespace {

ServerOptions parse_ok(const std::string& toml) {
  auto config = parse_config(toml);
  EXPECT_TRUE(config.ok()) << config.error().to_string();
  auto options = parse_server_options(config->server);
  EXPECT_TRUE(options.ok()) << options.error().to_string();
  return options.ok() ? *options : ServerOptions{};
}

TEST(ServerOptions, DefaultsWhenTheSectionIsEmpty) {
  auto o = parse_ok("");
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 8080);
  EXPECT_TRUE(o.keys.empty());
}

TEST(ServerOptions, ReadsEveryKeyAndTheAuthTable) {
  auto o = parse_ok(R"(
[server]
host = "0.0.0.0"
port = 9000
threads = 4
max_body_bytes = 65536
request_timeout_s = 12
shutdown_grace_s = 3
max_queue_per_model = 7
max_inputs = 9
max_tokens = 100
default_max_tokens = 50
requests_per_minute = 60
tokens_per_minute = 1000
cors_origins = ["http://a"]
[server.auth]
keys = [{ name = "app", sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", scopes = ["inference"], requests_per_minute = 5 }]
)");
  EXPECT_EQ(o.host, "0.0.0.0");
  EXPECT_EQ(o.port, 9000);
  EXPECT_EQ(o.threads, 4);
  EXPECT_EQ(o.max_body_bytes, 65536u);
  EXPECT_EQ(o.request_timeout, std::chrono::seconds(12));
  EXPECT_EQ(o.shutdown_grace, std::chrono::seconds(3));
  EXPECT_EQ(o.max_queue_per_model, 7);
  EXPECT_EQ(o.max_inputs, 9u);
  EXPECT_EQ(o.max_tokens, 100);
  EXPECT_EQ(o.default_max_tokens, 50);
  EXPECT_EQ(o.requests_per_minute, 60);
  EXPECT_EQ(o.tokens_per_minute, 1000);
  ASSERT_EQ(o.cors_origins.size(), 1u);
  ASSERT_EQ(o.keys.size(), 1u);
  EXPECT_EQ(o.keys[0].name, "app");
  EXPECT_EQ(o.keys[0].requests_per_minute, 5);
  EXPECT_EQ(o.keys[0].tokens_per_minute, -1);
}

TEST(ServerOptions, UnknownKeysAndWrongTypesNameTheKey) {
  for (const char* toml :
       {"[server]\nprot = 1\n", "[server]\nport = \"80\"\n", "[server]\nport = 70000\n",
        "[server.auth]\nkeys = [{ name = \"a\", sha256 = \"abc\", scopes = [\"inference\"] }]\n",
        "[server.auth]\nkeys = [{ name = \"a\", sha256 = "
        "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\", scopes = [\"root\"] }]\n"}) {
    auto config = parse_config(toml);
    ASSERT_TRUE(config.ok()) << toml;
    auto o = parse_server_options(config->server);
    ASSERT_FALSE(o.ok()) << toml;
    EXPECT_EQ(o.error().code(), ErrorCode::config_invalid);
    EXPECT_NE(o.error().message().find("[server"), std::string::npos) << o.error().message();
  }
}

TEST(ServerOptions, Sha256HexMatchesTheKnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(RateLimiter, RequestBucketRefillsOverAMinute) {
  server::RateLimiter limiter;
  server::RateLimit limit{2, 0};
  auto t0 = server::RateLimiter::Clock::now();
  EXPECT_EQ(limiter.admit("a", limit, t0), 0);
  EXPECT_EQ(limiter.admit("a", limit, t0), 0);
  int wait = limiter.admit("a", limit, t0);
  EXPECT_EQ(wait, 30);  // one request per 30 s
  EXPECT_EQ(limiter.admit("a", limit, t0 + std::chrono::seconds(31)), 0);
  EXPECT_EQ(limiter.admit("b", limit, t0), 0);
}

TEST(RateLimiter, TokensChargedAfterwardsBlockUntilRefilled) {
  server::RateLimiter limiter;
  server::RateLimit limit{0, 600};  // 10 tokens per second
  auto t0 = server::RateLimiter::Clock::now();
  EXPECT_EQ(limiter.admit("a", limit, t0), 0);
  limiter.charge_tokens("a", limit, 700, t0);
  int wait = limiter.admit("a", limit, t0);
  EXPECT_GE(wait, 10);
  EXPECT_LE(wait, 11);
  EXPECT_EQ(limiter.admit("a", limit, t0 + std::chrono::seconds(11)), 0);
}

}  // namespace
}  // namespace xervo
