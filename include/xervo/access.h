// Access control of the HTTP front door beyond plain API keys: named roles (scopes and model
// allow-lists), IP allow-lists, JWT bearer tokens, a keys file the CLI manages, and the audit log.
// Plain option structs (ServerOptions holds them; parse_server_options fills them from [server]);
// docs/server/access.md is the manual. Immutable once a server started with them.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace xervo {

// [server.auth.roles.NAME]: what a key or token holding the role may do.
struct AccessRole {
  std::string name;
  // "inference" (models, embeddings, chat, completions, rerank of every API family, WebSocket; also
  // grants batch and metrics, as it always did), "batch" (/v1/files, /v1/batches), "metrics"
  // (/metrics, /ready), "library" (/v1/library/*, Ollama's /api/pull and /api/delete), "admin"
  // (everything).
  std::vector<std::string> scopes;
  // Model names (aliases, or ids such as "library:ID") the role may use: exact names or globs with
  // `*` (any run of characters, '/' included) and `?`. Unset: every model.
  std::optional<std::vector<std::string>> models;
  // Client addresses (CIDR, IPv4 or IPv6; a bare address is one host) the role applies from; a request
  // from elsewhere does not get this role. Empty: anywhere.
  std::vector<std::string> allow_ips;
};

// [server.auth.jwt]: JWT bearer tokens accepted beside API keys. Off unless a secret or a JWKS is set.
struct JwtOptions {
  std::string hs256_secret_env;     // HS256: the shared secret is this environment variable's value
  std::filesystem::path jwks_file;  // RS256 / ES256: public keys as a JWKS file, re-read when it changes
  std::string jwks_url;             // RS256 / ES256: public keys fetched from this URL, refreshed
  bool oidc_discovery = false;      // find the JWKS URL in ISSUER/.well-known/openid-configuration
  std::chrono::seconds jwks_refresh{300};  // how often a fetched JWKS is fetched again
  std::string issuer;                      // required `iss`; empty: not checked
  std::vector<std::string> audiences;      // `aud` must name one of these; empty: not checked
  std::chrono::seconds leeway{30};         // clock skew allowed on exp and nbf
  std::string roles_claim = "roles";       // claim (dotted path for nested objects) holding role names
  std::string subject_claim = "sub";       // claim naming the caller (logs, rate-limit bucket)
  bool enabled() const {
    return !hs256_secret_env.empty() || !jwks_file.empty() || !jwks_url.empty() || oidc_discovery;
  }
};

// [server.audit]: the append-only, hash-chained JSONL audit log (`xervo audit verify`).
struct AuditOptions {
  bool enabled = true;           // false: no audit log at all
  std::filesystem::path path;    // empty: no audit log (xervo serve: XERVO_HOME/audit.log)
  size_t max_bytes = 64u << 20;  // rotate (audit.log -> audit.log.1 ...) beyond this size
  int keep_files = 10;           // rotated files kept; older ones are removed
  bool include_prompts = false;  // refused requests also record their prompt text (bounded)
};

}  // namespace xervo
