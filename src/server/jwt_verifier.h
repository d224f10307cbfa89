// JWT bearer tokens (RFC 7519) checked with libjwt: HS256 with a shared secret, RS256 and ES256 with
// the public keys of a JWKS file or an OIDC issuer's URL. The algorithm a token names picks the kind of key
// before anything is verified, so an HS256 token is never checked against an RSA key's bytes (algorithm
// confusion) and "none" never verifies. exp is required; nbf, iss and aud are checked as configured.
// Thread-safe (JwksFile guards itself; the rest is immutable).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/jwks.h"
#include "xervo/access.h"
#include "xervo/error.h"

namespace xervo::server {

struct VerifiedToken {
  std::string subject;
  std::vector<std::string> roles;
};

// Whether a bearer credential is shaped like a JWT (three base64url parts) rather than an API key.
bool looks_like_jwt(std::string_view credential);

class JwtVerifier {
 public:
  // config_invalid when hs256_secret_env names an unset or empty variable, or a short secret.
  static Result<std::unique_ptr<JwtVerifier>> create(const JwtOptions& options);

  // unauthorized with what failed (malformed, algorithm refused, no key, signature, expired, not yet
  // valid, issuer, audience); the message never echoes the token.
  Result<VerifiedToken> verify(std::string_view token, std::chrono::system_clock::time_point now) const;

 private:
  explicit JwtVerifier(JwtOptions options) : options_(std::move(options)) {}
  JwtOptions options_;
  std::string secret_;                // HS256; empty: HS256 refused
  std::unique_ptr<JwksSource> jwks_;  // RS256/ES256; null: refused
};

}  // namespace xervo::server
