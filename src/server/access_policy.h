// Who a request is and what it may do: scopes, roles with model allow-lists, and the Principal an
// authenticated request carries (from an API key or a JWT). Roles are resolved once, when the keys are
// read, into Grants; a request from an address a role does not allow simply lacks that grant.
// Immutable values and pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/ip_filter.h"
#include "xervo/error.h"
#include "xervo/server.h"

namespace xervo::server {

enum class Scope { inference, batch, metrics, library, admin };
std::string_view to_string(Scope scope);
std::optional<Scope> parse_scope(std::string_view name);
// Whether holding `held` allows a route needing `needed`: admin allows all, inference also batch and
// metrics (what it allowed before those scopes existed), any scope itself.
bool scope_allows(Scope held, Scope needed);
inline constexpr std::string_view kScopeNames = "inference, batch, metrics, library, admin";

// `*` is any run of characters ('/' included), `?` one character; everything else literal.
bool glob_match(std::string_view pattern, std::string_view text);

// One role (or a key's own scopes), as a request holds it.
struct Grant {
  std::string source;  // "role NAME" or "key scopes": named in errors
  std::vector<Scope> scopes;
  std::optional<std::vector<std::string>> models;  // unset: every model
  std::vector<Cidr> allow_ips;                     // empty: anywhere
};

struct Principal {
  std::string kind;           // "key" or "jwt"
  std::string name;           // key name, or the token's subject
  std::vector<Grant> grants;  // those that apply from the request's address
  std::vector<std::string> roles;
  int64_t requests_per_minute = -1;  // -1: the server's default
  int64_t tokens_per_minute = -1;
  std::optional<ModelIdAllowance> allow_model_ids;  // the key's own (null for tokens)

  // "key:NAME" / "jwt:SUBJECT": the rate-limit bucket and the owner of batch files.
  std::string id() const { return kind + ":" + name; }
  bool has(Scope needed) const;
  bool may_use_model(std::string_view model) const;
  // The model patterns it may use, for error messages ("every model" when unrestricted).
  std::string models_text() const;
};

// A role, validated and compiled (config_invalid naming it otherwise).
Result<Grant> compile_role(const AccessRole& role);
using RoleTable = std::map<std::string, Grant, std::less<>>;
Result<RoleTable> compile_roles(const std::vector<AccessRole>& roles);

// The principal of `key` from `client` (null: an address that could not be read: only grants without
// an IP list apply). forbidden when the key's own allow_ips exclude the client, or when no role of
// the key applies from there.
Result<std::shared_ptr<const Principal>> key_principal(const ApiKey& key, const RoleTable& roles,
                                                       const std::optional<IpAddress>& client);
// The principal of a verified token with these role names (unknown names are ignored: a token may
// carry roles of other services); forbidden when none applies.
Result<std::shared_ptr<const Principal>> token_principal(std::string subject,
                                                         const std::vector<std::string>& role_names,
                                                         const RoleTable& roles,
                                                         const std::optional<IpAddress>& client);

// Validates a key's fields (name, hash shape, scopes, roles known, CIDRs); config_invalid naming it.
Result<void> validate_key(const ApiKey& key, const RoleTable& roles, const std::string& where);

}  // namespace xervo::server
