// The part every remote model provider shares: settings (base URL, key from an environment variable,
// extra headers, timeouts, retry), JSON requests with retries, SSE streams, and error mapping.
// Thread-safety: an ApiClient is immutable after construction and safe from any number of threads.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "net/api_errors.h"
#include "net/http_client.h"
#include "net/in_flight_limit.h"
#include "net/retry.h"
#include "net/sse.h"
#include "xervo/error.h"
#include "xervo/provider.h"

namespace xervo::net {

struct ApiDefaults {
  std::string service;       // "openai"
  std::string base_url_env;  // "OPENAI_BASE_URL": used when settings name no base_url
  std::string base_url;      // used when neither is set
  std::string api_key_env;   // "OPENAI_API_KEY"
  RetryPolicy retry;
  std::vector<std::string> keys;  // the provider's own setting keys, beside the shared ones
};

// Every setting key a provider with these defaults reads (the shared ones and `keys`), sorted: what
// ModelProvider::setting_keys() returns and parse_api_settings() accepts.
std::vector<std::string> api_setting_keys(const ApiDefaults& defaults);

struct ApiSettings {
  std::string base_url;  // no trailing '/'
  std::string api_key_env;
  std::string api_key;                                    // from the environment; empty = send none
  HttpHeaders headers;                                    // the `headers` table, sent with every request
  std::chrono::milliseconds connect_timeout{10'000};      // connect_timeout_ms
  std::chrono::milliseconds timeout{600'000};             // timeout_ms: one whole request
  std::chrono::milliseconds stream_idle_timeout{60'000};  // stream_idle_timeout_ms: silence in a stream
  RetryPolicy retry;
  // max_in_flight: requests at once to this service and base URL (0: no limit); more wait, at most
  // max_queued of them and each at most queue_timeout_ms, then fail as unavailable.
  int max_in_flight = 0;
  int max_queued = 256;
  std::chrono::milliseconds queue_timeout{30'000};
  nlohmann::json merged = nlohmann::json::object();  // provider settings with the spec's options over them
};

// Provider settings with `overrides` (a spec's options) on top: a key in overrides replaces the
// provider's, except `headers` and `retry`, merged key by key. config_invalid names the bad key,
// an unknown one (not in api_setting_keys(), or in `retry`) included.
Result<ApiSettings> parse_api_settings(const nlohmann::json& provider_settings,
                                       const nlohmann::json& overrides, const ApiDefaults& defaults);

// Lets a provider pick the code from its own error body ({error: {status: "RESOURCE_EXHAUSTED"}}).
using ErrorClassifier = std::function<std::optional<ErrorCode>(int status, const nlohmann::json& body)>;

// One part of a multipart/form-data upload (RFC 7578): a field, or a file when `filename` is set.
struct FormPart {
  std::string name;
  std::string data;
  std::optional<std::string> filename;
  std::string content_type;  // for a file part; "application/octet-stream" when empty
};

class ApiClient {
 public:
  ApiClient(ApiSettings settings, ApiContext context, HttpHeaders auth_headers,
            std::shared_ptr<HttpClient> http = HttpClient::shared(), ErrorClassifier classify = {});

  // POST {base}/{path} with a JSON body; the JSON reply of a 2xx, or the mapped Error.
  Result<nlohmann::json> post_json(std::string_view path, const nlohmann::json& body,
                                   std::stop_token stop = {}) const;
  // POST {base}/{path} with `parts` as a multipart/form-data body (file uploads such as audio); the
  // JSON reply of a 2xx, or the mapped Error. Retried as post_json is.
  Result<nlohmann::json> post_form(std::string_view path, const std::vector<FormPart>& parts,
                                   std::stop_token stop = {}) const;
  // GET {base}/{path}; the response (any status) or a transport Error. For health checks: no retries,
  // at most 3 s to connect and 10 s in all.
  Result<HttpResponse> get(std::string_view path, std::stop_token stop = {}) const;
  // GET {base}/{path} as a provider's health(): ok on a 2xx, with status and latency in the detail.
  ProviderHealth check_health(std::string_view path) const;

  // POST and read a text/event-stream reply, calling `on_event` per event. Ok when the stream ended
  // normally (whether it said it was done is the caller's business); cancelled when `on_event`
  // returned false or `stop` was requested (the connection is closed); otherwise the mapped Error.
  // Retries only happen before the first byte of the stream arrived.
  Result<void> post_sse(std::string_view path, const nlohmann::json& body,
                        const std::function<bool(const SseEvent&)>& on_event,
                        std::stop_token stop = {}) const;

  const ApiSettings& settings() const { return settings_; }
  const ApiContext& context() const { return context_; }
  std::string url(std::string_view path) const;

 private:
  HttpRequest make_request(std::string_view path, const nlohmann::json& body) const;
  Result<nlohmann::json> send_for_json(std::string_view path, HttpRequest request,
                                       std::stop_token stop) const;
  // A slot of max_in_flight (none needed without it).
  Result<std::optional<InFlightLimit::Slot>> take_slot(std::stop_token stop) const;
  Error map_error(const HttpResponse& response) const;
  RetryFilter retry_filter() const;

  ApiSettings settings_;
  ApiContext context_;
  HttpHeaders auth_headers_;
  std::shared_ptr<HttpClient> http_;
  ErrorClassifier classify_;
  std::shared_ptr<InFlightLimit> in_flight_;  // null without max_in_flight
};

}  // namespace xervo::net
