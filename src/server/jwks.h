// JSON Web Key Sets (RFC 7517) for JWT verification: RSA and P-256 EC public keys, turned into the PEM
// that libjwt takes, and a JWKS file that is read again when it changes (key rotation without a
// restart). Private key members are never read. JwksFile is thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "server/watched_file.h"
#include "xervo/error.h"

namespace xervo::server {

struct PublicJwk {
  std::string kid;  // may be empty
  std::string kty;  // "RSA" or "EC" (P-256 only)
  std::string alg;  // the key's own "alg" when given: then it may only verify that algorithm
  std::string pem;  // SubjectPublicKeyInfo PEM
};

// Base64url without padding (what JOSE uses); nullopt on a character outside the alphabet.
std::optional<std::string> base64url_decode(std::string_view text);
std::string base64url_encode(std::string_view bytes);

// A string member of a JSON object from outside (a token header, a JWK, a discovery document); ""
// when absent or not a string, never a type error.
std::string lenient_string(const nlohmann::json& object, const char* name);

// Parses a JWKS document ({"keys": [...]}); keys of other types, curves or uses ("enc") are skipped.
// invalid_input when it is not a JWKS at all or a usable-looking key is malformed.
Result<std::vector<PublicJwk>> parse_jwks(std::string_view json);

// Where a verifier's public keys come from: a file (JwksFile) or an OIDC issuer's URL (JwksUrl).
// Thread-safe.
class JwksSource {
 public:
  virtual ~JwksSource() = default;
  // The keys as known now. `missing_kid` names a kid the caller looked for and did not find in the
  // last answer: a source may fetch again (rate-limited) before answering, since an issuer that
  // rotated signs with the new key before a periodic refresh would notice.
  virtual std::shared_ptr<const std::vector<PublicJwk>> keys(std::string_view missing_kid = {}) = 0;
  // Why no key is known yet ("" when keys were read once); for the refusal message.
  virtual std::string unavailable_reason() const { return {}; }
};

class JwksFile final : public JwksSource {
 public:
  explicit JwksFile(std::filesystem::path path) : watch_(std::move(path)) {}
  // The keys as the file holds them now (read again when it changed since the last call). A file that
  // became unreadable or malformed keeps the last good keys, with the error logged once.
  std::shared_ptr<const std::vector<PublicJwk>> keys(std::string_view missing_kid = {}) override;

 private:
  std::mutex mu_;
  WatchedFile watch_;                                    // GUARDED_BY(mu_)
  std::shared_ptr<const std::vector<PublicJwk>> keys_ =  // GUARDED_BY(mu_)
      std::make_shared<const std::vector<PublicJwk>>();
};

}  // namespace xervo::server
