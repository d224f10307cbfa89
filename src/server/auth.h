// Authentication of the HTTP front door: API keys (held only as sha256 hashes, from [server.auth]
// keys and from the keys file, which is re-read when it changes) and JWT bearer tokens, each turned
// into the Principal a request carries (access_policy.h). A presented key is hashed and compared with
// every known hash in constant time. Thread-safe: the key set is swapped whole under a mutex.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/access_policy.h"
#include "server/jwt_verifier.h"
#include "server/watched_file.h"
#include "xervo/error.h"
#include "xervo/server.h"

namespace xervo::server {

class AuditLog;

class Authenticator {
 public:
  // config_invalid for bad roles, keys or JWT settings. `audit` (may be null) records key changes.
  static Result<std::unique_ptr<Authenticator>> create(const ServerOptions& options, AuditLog* audit);

  // Whether requests must authenticate: configured keys, JWT, or an existing keys file (an empty one
  // too: revoking the last key locks everyone out rather than opening the server).
  bool enabled() const;

  // The principal of a credential (an API key, or a JWT when it is shaped like one) from `client`.
  // unauthorized when it names no key or the token is refused; forbidden when nothing of the key
  // applies from that address.
  Result<std::shared_ptr<const Principal>> authenticate(std::string_view credential,
                                                        const std::optional<IpAddress>& client) const;
  // The same from an Authorization header value ("Bearer CREDENTIAL").
  Result<std::shared_ptr<const Principal>> authenticate_bearer(std::string_view authorization,
                                                               const std::optional<IpAddress>& client) const;

  // Who a batch line runs as: its creator ("key:NAME" / "jwt:SUBJECT", as Principal::id() said). A key
  // must still exist (a revoked key's lines stop), with its roles as they are now, whatever their IP
  // lists (the address was checked when the batch was made); a token's subject as it last
  // authenticated since the server started. unauthorized otherwise.
  Result<std::shared_ptr<const Principal>> owner_principal(const std::string& owner) const;

  // Revocation shared by the replicas of a cluster (cluster/key_revocations.h): a key whose sha256
  // `revoked` names is refused, and `on_removed` is told the sha256 of each key the keys file drops.
  // Neither may block (they read and queue locally). Set once, before the first request.
  void share_revocations(std::function<bool(const std::string&)> revoked,
                         std::function<void(const std::string&)> on_removed) {
    revoked_ = std::move(revoked);
    on_removed_ = std::move(on_removed);
  }

 private:
  struct KeySet {
    std::vector<ApiKey> keys;  // config keys, then the keys file's
    bool file_exists = false;
  };
  Authenticator() = default;
  std::shared_ptr<const KeySet> current() const;  // re-reads the keys file when it changed
  const ApiKey* find_key(const KeySet& set, std::string_view secret) const;

  std::vector<ApiKey> config_keys_;
  RoleTable roles_;
  std::unique_ptr<JwtVerifier> jwt_;
  AuditLog* audit_ = nullptr;
  std::function<bool(const std::string&)> revoked_;
  std::function<void(const std::string&)> on_removed_;

  mutable std::mutex mu_;
  mutable std::optional<WatchedFile> keys_file_;  // GUARDED_BY(mu_)
  mutable std::shared_ptr<const KeySet> keys_;    // GUARDED_BY(mu_)
  mutable bool file_read_ = false;                // GUARDED_BY(mu_): the start's read is no change
  mutable std::map<std::string, std::shared_ptr<const Principal>> token_owners_;  // GUARDED_BY(mu_)
};

// A fresh random key ("xk-" + 43 url-safe characters) for `xervo serve hash-key --generate` and
// `xervo keys create`.
std::string generate_api_key();

}  // namespace xervo::server
