#include "net/retry.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <random>
#include <string>

#include "core/log.h"

namespace xervo::net {
namespace {

using Clock = std::chrono::steady_clock;

Result<int64_t> read_int(const nlohmann::json& j, const char* key, int64_t current, int64_t min_value) {
  if (!j.contains(key)) return current;
  const auto& v = j.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < min_value)
    return Error(ErrorCode::config_invalid,
                 std::string("retry.") + key + " must be an integer >= " + std::to_string(min_value));
  return v.get<int64_t>();
}

// Sleeps for `delay` unless `stop` is requested first; returns false when stopped.
bool sleep_for(std::chrono::milliseconds delay, std::stop_token stop) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  return !cv.wait_for(lock, stop, delay, [] { return false; }) && !stop.stop_requested();
}

double random_unit() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

Result<RetryPolicy> RetryPolicy::from_json(const nlohmann::json& j, const RetryPolicy& defaults) {
  RetryPolicy p = defaults;
  if (j.is_null()) return p;
  if (!j.is_object())
    return Error(ErrorCode::config_invalid, "retry must be a table {max_attempts = 4, ...}");
  auto attempts = read_int(j, "max_attempts", p.max_attempts, 1);
  if (!attempts) return attempts.error();
  auto base = read_int(j, "base_delay_ms", p.base_delay.count(), 0);
  if (!base) return base.error();
  auto max_delay = read_int(j, "max_delay_ms", p.max_delay.count(), 0);
  if (!max_delay) return max_delay.error();
  auto total = read_int(j, "max_total_ms", p.max_total.count(), 0);
  if (!total) return total.error();
  p.max_attempts = static_cast<int>(std::min<int64_t>(*attempts, 100));
  p.base_delay = std::chrono::milliseconds(*base);
  p.max_delay = std::chrono::milliseconds(*max_delay);
  p.max_total = std::chrono::milliseconds(*total);
  if (j.contains("jitter")) {
    const auto& v = j.at("jitter");
    if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1)
      return Error(ErrorCode::config_invalid, "retry.jitter must be a number in [0, 1]");
    p.jitter = v.get<double>();
  }
  return p;
}

bool is_retryable_status(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

bool is_retryable_transport(TransportError error, uint64_t sink_bytes) {
  switch (error) {
    case TransportError::resolve:
    case TransportError::connect:
    case TransportError::connect_timeout:
      return true;
    case TransportError::dropped:
      // Bytes a sink already consumed cannot be taken back: the caller must decide.
      return sink_bytes == 0;
    default:
      return false;
  }
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\r')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t seconds = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || seconds > 24 * 3600) seconds = 24 * 3600;  // absurd values saturate
    return std::chrono::milliseconds(seconds * 1000);
  }
  const std::string text(value);
  const time_t when = curl_getdate(text.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  const auto at = std::chrono::system_clock::from_time_t(when);
  if (at <= now) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(at - now);
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int attempt, double unit) {
  const int doublings = std::clamp(attempt - 2, 0, 30);
  double ms = static_cast<double>(policy.base_delay.count()) * static_cast<double>(int64_t{1} << doublings);
  ms = std::min(ms, static_cast<double>(policy.max_delay.count()));
  ms *= 1.0 - policy.jitter * std::clamp(unit, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

Result<HttpResponse> send_with_retry(HttpClient& client, const HttpRequest& request,
                                     const RetryPolicy& policy, std::stop_token stop,
                                     const RetryObserver& on_retry, const RetryFilter& may_retry) {
  const auto started = Clock::now();
  const int max_attempts = std::max(1, policy.max_attempts);
  for (int attempt = 1;; ++attempt) {
    HttpOutcome outcome = client.perform(request, stop);
    outcome.response.attempts = attempt;

    std::string reason;
    std::optional<std::chrono::milliseconds> asked;
    if (outcome.ok()) {
      if (!is_retryable_status(outcome.response.status) || (may_retry && !may_retry(outcome.response)))
        return std::move(outcome.response);
      reason = "HTTP " + std::to_string(outcome.response.status);
      if (auto header = outcome.response.headers.get("Retry-After")) asked = parse_retry_after(*header);
    } else {
      if (!is_retryable_transport(outcome.error, outcome.response.sink_bytes) || stop.stop_requested())
        return Error(
            error_code_for(outcome.error),
            outcome.message + (attempt > 1 ? " after " + std::to_string(attempt) + " attempts" : ""));
      reason = std::string(to_string(outcome.error));
    }

    auto give_up = [&]() -> Result<HttpResponse> {
      if (outcome.ok()) return std::move(outcome.response);
      return Error(error_code_for(outcome.error), outcome.message + " after " + std::to_string(attempt) +
                                                      " attempt" + (attempt > 1 ? "s" : ""));
    };
    if (attempt >= max_attempts) return give_up();
    const auto delay = asked ? *asked : backoff_delay(policy, attempt + 1, random_unit());
    const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    if (spent + delay > policy.max_total) {
      spdlog::debug("not retrying {} ({}): the next try in {} ms would pass the {} ms budget",
                    redact_url(request.url), reason, delay.count(), policy.max_total.count());
      return give_up();
    }
    spdlog::debug("retrying {} in {} ms ({}, attempt {} of {})", redact_url(request.url), delay.count(),
                  reason, attempt + 1, max_attempts);
    if (on_retry) on_retry(attempt + 1, delay, reason);
    if (!sleep_for(delay, stop))
      return Error(ErrorCode::cancelled, "cancelled while waiting to retry " + redact_url(request.url));
  }
}

}  // namespace xervo::net
