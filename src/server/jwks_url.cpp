#include "server/jwks_url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "net/http_client.h"

namespace xervo::server {
namespace {

constexpr uint64_t kMaxJwksBytes = 1u << 20;
constexpr uint64_t kMaxDiscoveryBytes = 256u << 10;

std::string host_of(const std::string& url, size_t scheme_len) {
  std::string rest = url.substr(scheme_len);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  if (rest.starts_with("[")) return rest.substr(0, rest.find(']') + 1);
  return rest.substr(0, rest.find(':'));
}

}  // namespace

Result<void> check_key_url(const std::string& url, const std::string& what) {
  auto invalid = [&](const std::string& why) { return Error(ErrorCode::config_invalid, what + ": " + why); };
  if (url.size() > 2048) return invalid("longer than 2048 characters");
  if (url.starts_with("https://")) {
    if (host_of(url, 8).empty()) return invalid("'" + net::redact_url(url) + "' has no host");
    return {};
  }
  if (url.starts_with("http://")) {
    const std::string host = host_of(url, 7);
    in_addr v4{};
    const bool loopback_v4 = ::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
    if (host == "localhost" || host == "[::1]" || loopback_v4) return {};
    return invalid("'" + net::redact_url(url) +
                   "' must use https (plain http is accepted for loopback hosts only: keys fetched in the "
                   "clear could be replaced on the way)");
  }
  return invalid("'" + net::redact_url(url) + "' is not an https:// URL");
}

std::unique_ptr<JwksUrl> JwksUrl::start(JwksUrlOptions options, std::shared_ptr<net::HttpClient> http) {
  std::unique_ptr<JwksUrl> source(new JwksUrl(std::move(options), std::move(http)));
  JwksUrl* self = source.get();
  self->thread_ = std::jthread([self](std::stop_token stop) { self->run(stop); });
  std::unique_lock lock(self->mu_);
  self->cv_.wait_for(lock, self->options_.timeout + std::chrono::milliseconds(500),
                     [self] { return self->attempts_ > 0; });
  return source;
}

JwksUrl::JwksUrl(JwksUrlOptions options, std::shared_ptr<net::HttpClient> http)
    : options_(std::move(options)), http_(std::move(http)) {}

JwksUrl::~JwksUrl() {
  thread_.request_stop();
  cv_.notify_all();
}

std::shared_ptr<const std::vector<PublicJwk>> JwksUrl::keys(std::string_view missing_kid) {
  std::unique_lock lock(mu_);
  const bool want_fetch = !missing_kid.empty() || !keys_;
  const auto now = std::chrono::steady_clock::now();
  if (want_fetch && attempts_ > 0 && now - last_attempt_ >= options_.min_refetch) {
    // Ask the refresher for an early fetch and wait for its answer (bounded). Requests that arrive
    // within min_refetch of the last attempt answer from what is known: a stream of tokens with
    // made-up kids cannot turn into a stream of fetches.
    const uint64_t seen = attempts_;
    fetch_requested_ = true;
    cv_.notify_all();
    cv_.wait_for(lock, options_.timeout + std::chrono::milliseconds(500), [&] { return attempts_ != seen; });
  }
  if (keys_) return keys_;
  static const auto none = std::make_shared<const std::vector<PublicJwk>>();
  return none;
}

std::string JwksUrl::unavailable_reason() const {
  std::lock_guard lock(mu_);
  if (keys_) return {};
  return attempts_ == 0 ? "the issuer's keys have not been fetched yet"
                        : "the issuer's keys could not be fetched (" + last_error_ + ")";
}

uint64_t JwksUrl::fetch_attempts() const {
  std::lock_guard lock(mu_);
  return attempts_;
}

void JwksUrl::run(std::stop_token stop) {
  std::chrono::seconds backoff{1};
  const std::string where = options_.jwks_url.empty() ? net::redact_url(options_.discovery_url)
                                                      : net::redact_url(options_.jwks_url);
  while (!stop.stop_requested()) {
    auto fetched = fetch(stop);
    if (stop.stop_requested()) break;
    std::chrono::seconds wait = options_.refresh;
    {
      std::lock_guard lock(mu_);
      ++attempts_;
      last_attempt_ = std::chrono::steady_clock::now();
      if (fetched.ok()) {
        const bool changed = !keys_ || keys_->size() != fetched->size();
        keys_ = std::make_shared<const std::vector<PublicJwk>>(std::move(*fetched));
        if (changed || !last_error_.empty()) spdlog::info("JWKS {}: {} key(s)", where, keys_->size());
        last_error_.clear();
        backoff = std::chrono::seconds(1);
      } else {
        if (last_error_ != fetched.error().message())
          spdlog::error("JWKS {}: {}; keeping the {} key(s) fetched before", where, fetched.error().message(),
                        keys_ ? keys_->size() : 0);
        last_error_ = fetched.error().message();
        wait = std::min(wait, backoff);
        backoff = std::min(backoff * 2, std::chrono::seconds(60));
      }
    }
    cv_.notify_all();
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, stop, wait, [this] { return fetch_requested_; });
    fetch_requested_ = false;
  }
}

Result<std::string> JwksUrl::get(const std::string& url, uint64_t max_bytes, std::stop_token stop) const {
  net::HttpRequest request;
  request.url = url;
  request.headers.add("Accept", "application/json");
  request.connect_timeout = options_.timeout;
  request.timeout = options_.timeout;
  request.max_body_bytes = max_bytes;
  request.follow_redirects = false;  // the URL configured (or discovered) is the one trusted
  auto outcome = http_->perform(request, stop);
  if (!outcome.ok()) {
    if (outcome.error == net::TransportError::too_large)
      return Error(ErrorCode::invalid_input,
                   net::redact_url(url) + " answered more than " + std::to_string(max_bytes >> 10) + " KiB");
    return Error(net::error_code_for(outcome.error), outcome.message);
  }
  if (outcome.response.status != 200)
    return Error(ErrorCode::unavailable,
                 net::redact_url(url) + " answered HTTP " + std::to_string(outcome.response.status));
  return std::move(outcome.response.body);
}

Result<std::vector<PublicJwk>> JwksUrl::fetch(std::stop_token stop) const {
  std::string jwks_url = options_.jwks_url;
  if (jwks_url.empty()) {
    auto body = get(options_.discovery_url, kMaxDiscoveryBytes, stop);
    if (!body.ok()) return body.error();
    auto doc = nlohmann::json::parse(*body, nullptr, false);
    if (!doc.is_object() || !doc.contains("jwks_uri") || !doc["jwks_uri"].is_string())
      return Error(ErrorCode::invalid_input, "the discovery document has no \"jwks_uri\" string");
    if (!options_.issuer.empty() && lenient_string(doc, "issuer") != options_.issuer)
      return Error(ErrorCode::invalid_input,
                   "the discovery document's issuer is not '" + options_.issuer + "'");
    jwks_url = doc["jwks_uri"].get<std::string>();
    auto checked = check_key_url(jwks_url, "the discovery document's jwks_uri");
    if (!checked.ok()) return checked.error();
  }
  auto body = get(jwks_url, kMaxJwksBytes, stop);
  if (!body.ok()) return body.error();
  return parse_jwks(*body);
}

}  // namespace xervo::server
