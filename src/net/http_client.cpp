#include "net/http_client.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <mutex>
#include <utility>

#include "core/log.h"
#include "net/curl_handle.h"

namespace xervo::net {
namespace {

using Clock = std::chrono::steady_clock;

// Non-2xx bodies that arrive while a sink is set are kept for the error message, up to this much.
constexpr size_t kErrorBodyCap = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// One pooled connection context: the easy handle keeps its live connections between requests, the
// multi handle lets a transfer be woken up for cancellation.
struct PooledHandle {
  CurlEasy easy;
  CurlMulti multi;
};

// Everything one transfer's callbacks touch. Callbacks run on the calling thread inside
// curl_multi_perform, so no synchronisation is needed here.
struct Transfer {
  const HttpRequest* request = nullptr;
  CURL* easy = nullptr;
  HttpResponse response;
  Clock::time_point last_activity = Clock::now();
  bool started = false;  // final response's status and headers are known
  bool to_sink = false;  // 2xx body goes to the sink
  TransportError abort_reason = TransportError::none;
  std::string abort_message;

  bool start() {
    started = true;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    response.status = static_cast<int>(code);
    to_sink = static_cast<bool>(request->on_body) && response.success();
    if (request->on_response_start && !request->on_response_start(response.status, response.headers)) {
      abort_reason = TransportError::cancelled;
      abort_message = "the response was refused by the caller";
      return false;
    }
    return true;
  }
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t len = size * count;
  t.last_activity = Clock::now();
  std::string_view line(data, len);
  if (line.starts_with("HTTP/")) {
    // A new response begins (1xx, a redirect, or the final one): only the last one's headers count.
    t.response.headers.clear();
    return len;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return len;  // blank line or junk
  t.response.headers.add(std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  return len;
}

size_t on_write(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t len = size * count;
  t.last_activity = Clock::now();
  if (!t.started && !t.start()) return 0;
  std::string_view chunk(data, len);
  if (t.to_sink) {
    if (!t.request->on_body(chunk)) {
      t.abort_reason = TransportError::cancelled;
      t.abort_message = "the body was refused by the caller";
      return 0;
    }
    t.response.sink_bytes += len;
    return len;
  }
  if (t.request->on_body) {  // error body of a streamed request: keep the start for the message
    const size_t room = kErrorBodyCap - std::min(kErrorBodyCap, t.response.body.size());
    t.response.body.append(chunk.substr(0, std::min(room, len)));
    return len;
  }
  if (t.response.body.size() + len > t.request->max_body_bytes) {
    t.abort_reason = TransportError::too_large;
    t.abort_message = "response body exceeds " + std::to_string(t.request->max_body_bytes) + " bytes";
    return 0;
  }
  t.response.body.append(chunk);
  return len;
}

TransportError classify(CURLcode code, const Transfer& t) {
  switch (code) {
    case CURLE_OK:
      return TransportError::none;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return TransportError::resolve;
    case CURLE_COULDNT_CONNECT:
      return TransportError::connect;
    case CURLE_OPERATION_TIMEDOUT: {
      curl_off_t connect_us = 0;
      curl_easy_getinfo(t.easy, CURLINFO_CONNECT_TIME_T, &connect_us);
      return connect_us == 0 ? TransportError::connect_timeout : TransportError::timeout;
    }
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
      return TransportError::dropped;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return TransportError::tls;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
      return TransportError::invalid_request;
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
      return t.abort_reason != TransportError::none ? t.abort_reason : TransportError::cancelled;
    default:
      return TransportError::other;
  }
}

CurlSlist build_headers(const HttpRequest& request) {
  curl_slist* list = nullptr;
  auto append = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(list, line.c_str());
    if (next) list = next;
  };
  for (const auto& [name, value] : request.headers.entries()) {
    // Header injection through a value with a line break would forge headers: drop the break.
    std::string clean = value;
    std::erase_if(clean, [](char c) { return c == '\r' || c == '\n'; });
    append(name + ": " + clean);
  }
  // No "Expect: 100-continue" round trip before large bodies.
  if (!request.headers.contains("Expect")) append("Expect:");
  return CurlSlist(list);
}

}  // namespace

void HttpHeaders::add(std::string name, std::string value) {
  entries_.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string> HttpHeaders::get(std::string_view name) const {
  for (const auto& [n, v] : entries_)
    if (iequals(n, name)) return v;
  return std::nullopt;
}

std::vector<std::string> HttpHeaders::get_all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : entries_)
    if (iequals(n, name)) out.push_back(v);
  return out;
}

std::string_view to_string(TransportError error) {
  switch (error) {
    case TransportError::none:
      return "none";
    case TransportError::resolve:
      return "resolve";
    case TransportError::connect:
      return "connect";
    case TransportError::connect_timeout:
      return "connect_timeout";
    case TransportError::timeout:
      return "timeout";
    case TransportError::idle_timeout:
      return "idle_timeout";
    case TransportError::dropped:
      return "dropped";
    case TransportError::tls:
      return "tls";
    case TransportError::cancelled:
      return "cancelled";
    case TransportError::too_large:
      return "too_large";
    case TransportError::invalid_request:
      return "invalid_request";
    case TransportError::other:
      return "other";
  }
  return "other";
}

ErrorCode error_code_for(TransportError error) {
  switch (error) {
    case TransportError::none:
      return ErrorCode::internal;
    case TransportError::connect_timeout:
    case TransportError::timeout:
    case TransportError::idle_timeout:
      return ErrorCode::timeout;
    case TransportError::resolve:
    case TransportError::connect:
    case TransportError::dropped:
    case TransportError::tls:
    case TransportError::other:
      return ErrorCode::unavailable;
    case TransportError::cancelled:
      return ErrorCode::cancelled;
    case TransportError::too_large:
      return ErrorCode::inference_failed;
    case TransportError::invalid_request:
      return ErrorCode::invalid_input;
  }
  return ErrorCode::internal;
}

std::string redact_url(std::string_view url) {
  std::string_view u = url;
  if (auto q = u.find_first_of("?#"); q != std::string_view::npos) u = u.substr(0, q);
  const auto scheme_end = u.find("://");
  if (scheme_end == std::string_view::npos) return std::string(u);
  const auto host_start = scheme_end + 3;
  const auto path_start = u.find('/', host_start);
  const auto authority =
      u.substr(host_start, path_start == std::string_view::npos ? u.npos : path_start - host_start);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string out(u.substr(0, host_start));
    out += authority.substr(at + 1);
    if (path_start != std::string_view::npos) out += u.substr(path_start);
    return out;
  }
  return std::string(u);
}

void ensure_curl_initialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct HttpClient::Impl {
  HttpClientOptions options;
  CurlShare share;
  // One mutex per kind of shared data, as libcurl's share interface expects.
  std::array<std::mutex, CURL_LOCK_DATA_LAST> share_locks;
  std::mutex pool_mutex;
  std::vector<PooledHandle> pool;  // GUARDED_BY(pool_mutex)

  explicit Impl(HttpClientOptions o) : options(std::move(o)) {
    ensure_curl_initialized();
    share.reset(curl_share_init());
    if (share) {
      curl_share_setopt(share.get(), CURLSHOPT_LOCKFUNC, &Impl::lock);
      curl_share_setopt(share.get(), CURLSHOPT_UNLOCKFUNC, &Impl::unlock);
      curl_share_setopt(share.get(), CURLSHOPT_USERDATA, this);
      curl_share_setopt(share.get(), CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
      curl_share_setopt(share.get(), CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
  }
  ~Impl() {
    // Easy handles must go before the share they use.
    pool.clear();
  }

  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Impl*>(user)->share_locks[static_cast<size_t>(data) % CURL_LOCK_DATA_LAST].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Impl*>(user)->share_locks[static_cast<size_t>(data) % CURL_LOCK_DATA_LAST].unlock();
  }

  PooledHandle acquire() {
    {
      std::lock_guard lock(pool_mutex);
      if (!pool.empty()) {
        PooledHandle h = std::move(pool.back());
        pool.pop_back();
        return h;
      }
    }
    return PooledHandle{CurlEasy(curl_easy_init()), CurlMulti(curl_multi_init())};
  }

  void release(PooledHandle h, bool reusable) {
    if (!reusable) return;
    std::lock_guard lock(pool_mutex);
    if (pool.size() < options.max_idle_handles) pool.push_back(std::move(h));
  }

  void configure(CURL* easy, const HttpRequest& request, Transfer& transfer, curl_slist* headers) {
    curl_easy_reset(easy);
    curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, options.ca_file.c_str());
    if (share) curl_easy_setopt(easy, CURLOPT_SHARE, share.get());
    curl_easy_setopt(easy, CURLOPT_USERAGENT, options.user_agent.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    if (request.follow_redirects) {
      curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
      curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 10L);
      // Credentials stay with the host they were meant for (curl's default, stated for the reader).
      curl_easy_setopt(easy, CURLOPT_UNRESTRICTED_AUTH, 0L);
    }
    if (request.accept_compressed) curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout.count()));
    if (request.timeout.count() > 0)
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
    std::string range;
    if (request.range_start) {
      range = std::to_string(*request.range_start) + "-";
      curl_easy_setopt(easy, CURLOPT_RANGE, range.c_str());  // libcurl copies the string
    }

    const bool has_body = !request.body.empty() || request.method == "POST" || request.method == "PUT" ||
                          request.method == "PATCH";
    if (request.method == "HEAD") {
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else if (request.method == "POST") {
      curl_easy_setopt(easy, CURLOPT_POST, 1L);
    } else if (request.method != "GET") {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (has_body && request.method != "HEAD") {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
    }
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
  }
};

HttpClient::HttpClient(HttpClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpClient::~HttpClient() = default;

std::shared_ptr<HttpClient> HttpClient::shared() {
  static auto client = std::make_shared<HttpClient>();
  return client;
}

namespace {

// Drives one transfer until curl finishes it (true, its code in `result`), the caller stops it, or
// it is silent for longer than request.idle_timeout (false, with transfer.abort_reason set).
bool drive_transfer(CURLM* multi, Transfer& transfer, const HttpRequest& request, const std::stop_token& stop,
                    CURLcode& result) {
  for (;;) {
    int running = 0;
    if (curl_multi_perform(multi, &running) != CURLM_OK) {
      transfer.abort_reason = TransportError::other;
      transfer.abort_message = "libcurl multi interface failed";
      return false;
    }
    if (running == 0) {
      int queued = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &queued))
        if (msg->msg == CURLMSG_DONE) result = msg->data.result;
      return true;
    }
    if (stop.stop_requested()) {
      transfer.abort_reason = TransportError::cancelled;
      transfer.abort_message = "cancelled by the caller";
      return false;
    }
    int wait_ms = 1000;
    if (request.idle_timeout.count() > 0) {
      const auto silent =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - transfer.last_activity);
      if (silent >= request.idle_timeout) {
        transfer.abort_reason = TransportError::idle_timeout;
        transfer.abort_message =
            "nothing received for " + std::to_string(request.idle_timeout.count()) + " ms";
        return false;
      }
      wait_ms = static_cast<int>(std::min<int64_t>(wait_ms, (request.idle_timeout - silent).count() + 1));
    }
    curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr);
  }
}

// Moves what curl gathered for `easy` (status, headers, body, final URL) into `response`.
void collect_response(CURL* easy, Transfer& transfer, HttpResponse& response) {
  char* effective = nullptr;
  curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &effective);
  if (effective) response.effective_url = effective;
  if (transfer.response.status == 0) {
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    transfer.response.status = static_cast<int>(code);
  }
  response.status = transfer.response.status;
  response.headers = std::move(transfer.response.headers);
  response.body = std::move(transfer.response.body);
  response.sink_bytes = transfer.response.sink_bytes;
}

// The transport error of a transfer and its message; none when it finished cleanly.
std::pair<TransportError, std::string> transfer_error(bool finished, CURLcode result,
                                                      const Transfer& transfer, const char* error_buffer) {
  if (!finished)
    return {transfer.abort_reason == TransportError::none ? TransportError::other : transfer.abort_reason,
            transfer.abort_message};
  if (result == CURLE_OK) return {TransportError::none, {}};
  const TransportError error = classify(result, transfer);
  if (transfer.abort_reason != TransportError::none && error == transfer.abort_reason)
    return {error, transfer.abort_message};
  return {error, error_buffer[0] ? std::string(error_buffer) : std::string(curl_easy_strerror(result))};
}

}  // namespace

HttpOutcome HttpClient::perform(const HttpRequest& request, std::stop_token stop) {
  HttpOutcome outcome;
  const auto started = Clock::now();
  const std::string shown_url = redact_url(request.url);
  auto elapsed = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  };
  auto fail = [&](TransportError e, std::string msg) {
    outcome.error = e;
    outcome.message = std::move(msg);
    outcome.response.elapsed = elapsed();
    return std::move(outcome);
  };
  if (!request.url.starts_with("http://") && !request.url.starts_with("https://"))
    return fail(TransportError::invalid_request,
                "unsupported URL '" + shown_url + "': only http:// and https://");
  if (stop.stop_requested())
    return fail(TransportError::cancelled, "cancelled before " + shown_url + " was requested");

  PooledHandle handle = impl_->acquire();
  if (!handle.easy || !handle.multi) return fail(TransportError::other, "libcurl could not create a handle");
  CURL* easy = handle.easy.get();
  CURLM* multi = handle.multi.get();

  Transfer transfer;
  transfer.request = &request;
  transfer.easy = easy;
  CurlSlist headers = build_headers(request);
  impl_->configure(easy, request, transfer, headers.get());
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);

  if (curl_multi_add_handle(multi, easy) != CURLM_OK)
    return fail(TransportError::other, "libcurl could not start the request to " + shown_url);
  CURLcode result = CURLE_OK;
  bool finished = false;
  {
    // A stop request wakes the poll at once instead of waiting for the next network event. Ended
    // before the handle goes back to the pool: a late stop must not touch a handle in other use.
    std::stop_callback wake(stop, [multi] { curl_multi_wakeup(multi); });
    finished = drive_transfer(multi, transfer, request, stop, result);
    // Removing an unfinished transfer closes its connection: the server sees the client go away.
    curl_multi_remove_handle(multi, easy);
  }

  if (finished && result == CURLE_OK && !transfer.started && !transfer.start()) finished = false;
  collect_response(easy, transfer, outcome.response);
  auto [error, message] = transfer_error(finished, result, transfer, error_buffer);
  impl_->release(std::move(handle), true);
  if (error != TransportError::none) {
    HttpResponse keep = std::move(outcome.response);
    auto out = fail(error, message + " (" + request.method + " " + shown_url + ")");
    out.response = std::move(keep);
    out.response.elapsed = elapsed();
    return out;
  }
  outcome.response.elapsed = elapsed();
  return outcome;
}

Result<HttpResponse> HttpClient::send(const HttpRequest& request, std::stop_token stop) {
  HttpOutcome outcome = perform(request, std::move(stop));
  if (!outcome.ok()) return Error(error_code_for(outcome.error), outcome.message);
  return std::move(outcome.response);
}

}  // namespace xervo::net
