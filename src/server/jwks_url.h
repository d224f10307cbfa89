// Public keys for JWT verification fetched from an OIDC issuer: the JWKS at a configured URL, or the
// `jwks_uri` of the issuer's discovery document. Fetched once at start (bounded), then refreshed on a
// background thread; a token that names an unknown kid triggers an early fetch (at most one per
// min_refetch), so a rotation at the issuer is picked up at once. A failed or malformed fetch keeps
// the last good keys. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "server/jwks.h"

namespace xervo::net {
class HttpClient;
}

namespace xervo::server {

struct JwksUrlOptions {
  std::string jwks_url;       // the JWKS itself; empty when discovery_url is set
  std::string discovery_url;  // ISSUER/.well-known/openid-configuration, naming jwks_uri
  std::string issuer;         // the discovery document's `issuer` must equal this (OIDC Discovery 4.3)
  std::chrono::seconds refresh{300};
  std::chrono::seconds min_refetch{10};      // early fetches (unknown kid, no keys yet) at most this often
  std::chrono::milliseconds timeout{5'000};  // one fetch; also the longest a request waits for one
};

// A key URL must be https, or http to a loopback host (a local issuer, tests). config_invalid names `what`.
Result<void> check_key_url(const std::string& url, const std::string& what);

class JwksUrl final : public JwksSource {
 public:
  // Starts the refresher and waits up to options.timeout for the first answer; when the issuer is
  // down the server starts anyway (tokens are refused with the reason until a fetch succeeds).
  static std::unique_ptr<JwksUrl> start(JwksUrlOptions options, std::shared_ptr<net::HttpClient> http);
  ~JwksUrl() override;

  std::shared_ptr<const std::vector<PublicJwk>> keys(std::string_view missing_kid = {}) override;
  std::string unavailable_reason() const override;
  uint64_t fetch_attempts() const;

 private:
  JwksUrl(JwksUrlOptions options, std::shared_ptr<net::HttpClient> http);
  void run(std::stop_token stop);
  Result<std::vector<PublicJwk>> fetch(std::stop_token stop) const;
  Result<std::string> get(const std::string& url, uint64_t max_bytes, std::stop_token stop) const;

  const JwksUrlOptions options_;
  const std::shared_ptr<net::HttpClient> http_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::shared_ptr<const std::vector<PublicJwk>> keys_;  // GUARDED_BY(mu_); null until a fetch succeeded
  std::string last_error_;                              // GUARDED_BY(mu_)
  uint64_t attempts_ = 0;                               // GUARDED_BY(mu_)
  bool fetch_requested_ = false;                        // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point last_attempt_;  // GUARDED_BY(mu_)
  std::jthread thread_;                                 // last: stopped and joined first
};

}  // namespace xervo::server
