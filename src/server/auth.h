// API-key authentication: keys are held only as sha256 hashes, a presented key is hashed and
// compared with every configured hash in constant time. Immutable after construction, so safe
// to share across threads.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"
#include "xervo/server.h"

namespace xervo::server {

enum class Scope { inference, admin };

class Authenticator {
 public:
  explicit Authenticator(std::vector<ApiKey> keys);

  bool enabled() const { return !keys_.empty(); }

  // The key that `authorization` (the header value, "Bearer KEY") names, allowed `needed`.
  // unauthorized when the header is missing, malformed or names no key; forbidden when the key
  // lacks the scope. "admin" grants every scope.
  Result<const ApiKey*> authorize(std::string_view authorization, Scope needed) const;
  // The same for the key itself (as Anthropic's `x-api-key` header carries it); unauthorized when
  // it names no key.
  Result<const ApiKey*> authorize_key(std::string_view secret, Scope needed) const;

 private:
  std::vector<ApiKey> keys_;
};

// Validates one configured key (hash shape, known scopes); config_invalid naming the key otherwise.
Result<void> validate_api_key(const ApiKey& key);

// A fresh random key ("xk-" + 43 url-safe characters) for `xervo serve hash-key --generate`.
std::string generate_api_key();

}  // namespace xervo::server
