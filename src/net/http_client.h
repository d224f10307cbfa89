// The HTTP client every remote part of xervo uses (remote providers, Hub downloads): libcurl with
// connection reuse, TLS verification, redirects, timeouts (connect, whole request, idle between
// received bytes), streaming body sinks, Range requests and prompt cancellation by std::stop_token.
// Thread-safety: one HttpClient may be used from any number of threads at once; each call runs
// on the calling thread. Callbacks of a request run on that thread, never under a client lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xervo/error.h"

namespace xervo::net {

// Response or request headers in arrival order; lookups ignore case as HTTP requires.
class HttpHeaders {
 public:
  void add(std::string name, std::string value);
  // The first value of `name`, if present.
  std::optional<std::string> get(std::string_view name) const;
  std::vector<std::string> get_all(std::string_view name) const;
  bool contains(std::string_view name) const { return get(name).has_value(); }
  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }
  void clear() { entries_.clear(); }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

struct HttpResponse;

// Receives each piece of a successful (2xx) response body as it arrives. Return false to abort the
// transfer: the connection is closed and the call ends with TransportError::cancelled.
using BodySink = std::function<bool(std::string_view chunk)>;
// Called once with the final response's status and headers (after redirects), before the first
// body byte reaches the sink (or at the end when the body is empty). Return false to abort.
using ResponseStartCallback = std::function<bool(int status, const HttpHeaders& headers)>;

struct HttpRequest {
  std::string method = "GET";  // GET, POST, PUT, DELETE, HEAD, ...
  std::string url;             // http:// or https:// only
  HttpHeaders headers;         // "Content-Type" is never added for you
  std::string body;            // sent as-is when non-empty (or when the method is POST/PUT)

  std::chrono::milliseconds connect_timeout{10'000};  // TCP + TLS handshake
  std::chrono::milliseconds timeout{0};               // whole request, redirects included; 0 = none
  // Longest silence (no header or body byte received), counted from the start of the request and
  // reset by every received byte; 0 = none. Meant for streams; a non-streamed call that waits for
  // a long computation should leave it at 0 and rely on `timeout`.
  std::chrono::milliseconds idle_timeout{0};

  // Sends "Range: bytes=N-" to resume a download. The server answers 206 (partial content from N),
  // 200 (ignores ranges: the whole body) or 416 (N is at or past the end); the caller checks.
  std::optional<uint64_t> range_start;

  bool follow_redirects = true;    // up to 10; Authorization is dropped when a redirect changes host
  bool accept_compressed = false;  // ask for gzip/deflate/br and decode; keep false for Range downloads

  // When set, a 2xx body goes here piece by piece and HttpResponse::body stays empty. A non-2xx body
  // is never given to the sink: it is kept (up to 64 KiB) in HttpResponse::body for error messages.
  BodySink on_body;
  ResponseStartCallback on_response_start;
  // Upper bound on a body kept in memory (no sink); a larger body fails with too_large.
  uint64_t max_body_bytes = 256ull << 20;
};

struct HttpResponse {
  int status = 0;             // 0 when no response arrived
  HttpHeaders headers;        // of the final response (after redirects)
  std::string body;           // whole body without a sink; the error body (capped) with one
  std::string effective_url;  // last URL after redirects
  uint64_t sink_bytes = 0;    // bytes handed to on_body
  std::chrono::milliseconds elapsed{0};
  int attempts = 1;  // set by send_with_retry: how many requests were made

  bool success() const { return status >= 200 && status < 300; }
};

// Why no (complete) response arrived.
enum class TransportError {
  none,
  resolve,          // host name not found
  connect,          // refused, unreachable, or reset before a response
  connect_timeout,  // no connection within connect_timeout
  timeout,          // the whole-request timeout passed
  idle_timeout,     // nothing received for idle_timeout
  dropped,          // the connection closed in the middle of a response
  tls,              // certificate or handshake failure (never retried)
  cancelled,        // stop_token, a sink or on_response_start returned false
  too_large,        // body larger than max_body_bytes
  invalid_request,  // bad URL, unsupported scheme, bad option
  other,
};
std::string_view to_string(TransportError error);

// A transport-level result: on success `error` is none and `response` holds any HTTP status.
struct HttpOutcome {
  TransportError error = TransportError::none;
  std::string message;  // libcurl's explanation plus the URL (without query string) when error != none
  HttpResponse response;
  bool ok() const { return error == TransportError::none; }
};

// Maps a transport failure to the xervo code: timeouts -> timeout, connection problems -> unavailable,
// cancelled -> cancelled, tls -> unavailable, invalid_request -> invalid_input, too_large ->
// inference_failed.
ErrorCode error_code_for(TransportError error);

struct HttpClientOptions {
  std::string user_agent = "xervo/0.1";
  std::string ca_file;           // extra CA bundle (PEM); empty = the system store
  size_t max_idle_handles = 16;  // pooled easy handles (each keeps its live connections)
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Runs one request to completion, failure or cancellation. Never throws for network reasons.
  HttpOutcome perform(const HttpRequest& request, std::stop_token stop = {});
  // Same, with transport failures as an Error (any HTTP status is a success here: check `status`).
  Result<HttpResponse> send(const HttpRequest& request, std::stop_token stop = {});

  // A process-wide client for callers that do not need their own options.
  static std::shared_ptr<HttpClient> shared();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "https://host/path" without query string or user info: safe to print in logs and errors.
std::string redact_url(std::string_view url);

}  // namespace xervo::net
