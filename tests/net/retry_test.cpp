#include "net/retry.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "net/local_server.h"

namespace xervo::net {
namespace {

using namespace std::chrono_literals;
using xervo::testing::LocalServer;

RetryPolicy fast_policy(int attempts = 4) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.base_delay = 10ms;
  p.max_delay = 50ms;
  p.max_total = 5000ms;
  return p;
}

// A server whose first `failures` answers carry `status` (with optional Retry-After), then 200.
struct FlakyServer {
  explicit FlakyServer(int status, int failures, std::string retry_after = "") {
    server.http().Get("/r", [=, this](const httplib::Request&, httplib::Response& res) {
      if (++server.requests <= failures) {
        res.status = status;
        if (!retry_after.empty()) res.set_header("Retry-After", retry_after);
        res.set_content(R"({"error":"try again"})", "application/json");
      } else {
        res.set_content("ok", "text/plain");
      }
    });
    server.start();
  }
  LocalServer server;
};

TEST(Retry, RetriesA429HonouringRetryAfterThenSucceeds) {
  FlakyServer flaky(429, 1, "1");
  HttpClient client;
  HttpRequest req;
  req.url = flaky.server.url("/r");
  std::vector<std::chrono::milliseconds> delays;
  auto res =
      send_with_retry(client, req, fast_policy(), {},
                      [&](int, std::chrono::milliseconds d, std::string_view) { delays.push_back(d); });
  ASSERT_TRUE(res.ok()) << res.error().to_string();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->attempts, 2);
  EXPECT_EQ(flaky.server.requests.load(), 2);
  ASSERT_EQ(delays.size(), 1u);
  EXPECT_EQ(delays[0], 1000ms);  // the server's Retry-After, not the 10 ms backoff
}

TEST(Retry, RetriesServerErrorsThenSucceeds) {
  for (int status : {500, 502, 503, 504}) {
    FlakyServer flaky(status, 2);
    HttpClient client;
    HttpRequest req;
    req.url = flaky.server.url("/r");
    auto res = send_with_retry(client, req, fast_policy());
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->status, 200) << status;
    EXPECT_EQ(flaky.server.requests.load(), 3) << status;
  }
}

TEST(Retry, NeverRetriesClientErrors) {
  for (int status : {400, 401, 403, 404, 422}) {
    FlakyServer flaky(status, 5);
    HttpClient client;
    HttpRequest req;
    req.url = flaky.server.url("/r");
    auto res = send_with_retry(client, req, fast_policy());
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->status, status);
    EXPECT_EQ(flaky.server.requests.load(), 1) << status;
  }
}

TEST(Retry, GivesUpAfterMaxAttemptsWithTheLastResponse) {
  FlakyServer flaky(503, 100);
  HttpClient client;
  HttpRequest req;
  req.url = flaky.server.url("/r");
  auto res = send_with_retry(client, req, fast_policy(3));
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->attempts, 3);
  EXPECT_EQ(flaky.server.requests.load(), 3);
}

TEST(Retry, FilterCanMakeARetryableStatusFinal) {
  FlakyServer flaky(500, 100);
  HttpClient client;
  HttpRequest req;
  req.url = flaky.server.url("/r");
  int seen = 0;
  auto res = send_with_retry(client, req, fast_policy(), {}, {}, [&](const HttpResponse& r) {
    ++seen;
    return r.body.find("try again") == std::string::npos;
  });
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(flaky.server.requests.load(), 1);
}

TEST(Retry, RetryAfterBeyondTheTotalBudgetEndsRetrying) {
  FlakyServer flaky(429, 100, "3600");
  HttpClient client;
  HttpRequest req;
  req.url = flaky.server.url("/r");
  auto res = send_with_retry(client, req, fast_policy());
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(flaky.server.requests.load(), 1);
}

TEST(Retry, RetriesRefusedConnections) {
  int port = 0;
  {
    LocalServer gone;
    gone.start();
    port = gone.port();
  }
  HttpClient client;
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/r";
  int retries = 0;
  auto res = send_with_retry(client, req, fast_policy(3), {},
                             [&](int, std::chrono::milliseconds, std::string_view reason) {
                               ++retries;
                               EXPECT_EQ(reason, "connect");
                             });
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::unavailable);
  EXPECT_EQ(retries, 2);
  EXPECT_NE(res.error().message().find("after 3 attempts"), std::string::npos) << res.error().message();
}

TEST(Retry, TimeoutsAreNotRetried) {
  LocalServer server;
  server.http().Get("/never", [&](const httplib::Request&, httplib::Response&) {
    ++server.requests;
    server.hang();
  });
  server.start();
  HttpClient client;
  HttpRequest req;
  req.url = server.url("/never");
  req.timeout = 150ms;
  auto res = send_with_retry(client, req, fast_policy());
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::timeout);
  EXPECT_EQ(server.requests.load(), 1);
}

TEST(Retry, StopDuringTheWaitCancels) {
  FlakyServer flaky(503, 100, "3");
  HttpClient client;
  HttpRequest req;
  req.url = flaky.server.url("/r");
  std::stop_source stop;
  std::thread canceller([&] {
    std::this_thread::sleep_for(150ms);
    stop.request_stop();
  });
  auto res = send_with_retry(client, req, fast_policy(), stop.get_token());
  canceller.join();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::cancelled);
  EXPECT_EQ(flaky.server.requests.load(), 1);
}

TEST(Retry, ParsesRetryAfterSecondsAndHttpDates) {
  const auto now = std::chrono::system_clock::from_time_t(1'700'000'000);  // 2023-11-14T22:13:20Z
  EXPECT_EQ(parse_retry_after("7", now), 7000ms);
  EXPECT_EQ(parse_retry_after(" 0 ", now), 0ms);
  EXPECT_EQ(parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now), 30000ms);
  EXPECT_EQ(parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now), 0ms);  // in the past
  EXPECT_FALSE(parse_retry_after("soon", now).has_value());
  EXPECT_FALSE(parse_retry_after("", now).has_value());
  EXPECT_EQ(parse_retry_after("99999999999999999999", now), std::chrono::milliseconds(24 * 3600 * 1000));
}

TEST(Retry, BackoffDoublesUpToTheCapAndJitterShortens) {
  RetryPolicy p;
  p.base_delay = 100ms;
  p.max_delay = 1000ms;
  p.jitter = 0.5;
  EXPECT_EQ(backoff_delay(p, 2, 0.0), 100ms);
  EXPECT_EQ(backoff_delay(p, 3, 0.0), 200ms);
  EXPECT_EQ(backoff_delay(p, 4, 0.0), 400ms);
  EXPECT_EQ(backoff_delay(p, 10, 0.0), 1000ms);
  EXPECT_EQ(backoff_delay(p, 3, 0.999).count(), 100);  // 200 * (1 - 0.5 * 0.999)
}

TEST(Retry, PolicyReadsJsonAndRejectsBadValues) {
  auto p = RetryPolicy::from_json({{"max_attempts", 2}, {"base_delay_ms", 5}, {"max_total_ms", 100}},
                                  RetryPolicy{});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->max_attempts, 2);
  EXPECT_EQ(p->base_delay, 5ms);
  EXPECT_EQ(p->max_delay, RetryPolicy{}.max_delay);
  auto bad = RetryPolicy::from_json({{"max_attempts", "many"}}, RetryPolicy{});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::config_invalid);
  EXPECT_NE(bad.error().message().find("max_attempts"), std::string::npos);
  EXPECT_FALSE(RetryPolicy::from_json({{"max_attempts", 0}}, RetryPolicy{}).ok());
}

}  // namespace
}  // namespace xervo::net
