// Retrying HTTP requests: exponential backoff with jitter on connection failures and on 429, 500,
// 502, 503, 504, honouring Retry-After; never on other statuses (400, 401, 403, 404, 422 ...).
// Thread-safety: RetryPolicy is a plain value; send_with_retry is safe from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string_view>

#include "net/http_client.h"
#include "xervo/error.h"

namespace xervo::net {

struct RetryPolicy {
  int max_attempts = 4;                         // requests in all, the first included; 1 = no retry
  std::chrono::milliseconds base_delay{500};    // delay before the 2nd attempt; doubles each time
  std::chrono::milliseconds max_delay{20'000};  // cap of one computed delay (Retry-After may ask more)
  std::chrono::milliseconds max_total{60'000};  // no retry starts once this much time has passed in all
  double jitter = 0.5;  // each delay is shortened by a random fraction in [0, jitter): spreads clients apart

  // Reads {max_attempts, base_delay_ms, max_delay_ms, max_total_ms, jitter} over `defaults`.
  // config_invalid names the key when a value has the wrong type or range.
  static Result<RetryPolicy> from_json(const nlohmann::json& j, const RetryPolicy& defaults);
};

// 429, 500, 502, 503, 504.
bool is_retryable_status(int status);
// Transport failures worth another try. `dropped` counts only while nothing reached a body sink.
bool is_retryable_transport(TransportError error, uint64_t sink_bytes);

// A Retry-After value: delay-seconds ("120") or an HTTP date, relative to `now`. nullopt when
// unparseable; a date in the past gives zero.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// The computed delay before attempt `attempt` (2 = first retry), jitter included; `unit` in [0, 1)
// is the random draw (tests pass a fixed one).
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int attempt, double unit);

// Called before each retry: the attempt about to run, the delay before it, why ("HTTP 503", "connect").
using RetryObserver =
    std::function<void(int attempt, std::chrono::milliseconds delay, std::string_view reason)>;

// Runs `request` until it gets a non-retryable outcome, attempts run out, the next delay would
// pass max_total, or `stop` is requested (the wait between attempts ends at once; cancelled).
// Returns the last response (any status: a 503 after the last attempt is a value, check `status`)
// with `attempts` set, or the last transport error as an Error whose message says how many
// attempts were made.
// `may_retry`, when set, sees each response with a retryable status and may return false to make it
// final (an API whose 500 body says "input too large" will answer the same every time).
using RetryFilter = std::function<bool(const HttpResponse& response)>;
Result<HttpResponse> send_with_retry(HttpClient& client, const HttpRequest& request,
                                     const RetryPolicy& policy, std::stop_token stop = {},
                                     const RetryObserver& on_retry = {}, const RetryFilter& may_retry = {});

}  // namespace xervo::net
