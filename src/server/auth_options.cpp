// [server.auth] and [server.audit] of xervo.toml -> ServerOptions (keys, roles, jwt, keys_file,
// audit). Strict like the rest of [server]: an unknown key or a wrong type names the key.
#include "server/auth_options.h"

#include <set>

#include "server/access_policy.h"
#include "server/jwks_url.h"
#include "server/key_file.h"

namespace xervo::server {
namespace {

Error invalid(const std::string& key, const std::string& what) {
  return Error(ErrorCode::config_invalid, "[server." + key + "]: " + what);
}

Result<std::vector<std::string>> strings(const nlohmann::json& v, const std::string& key) {
  if (v.is_string()) return std::vector<std::string>{v.get<std::string>()};
  if (!v.is_array()) return invalid(key, "must be an array of strings");
  std::vector<std::string> out;
  for (const auto& s : v) {
    if (!s.is_string()) return invalid(key, "must be an array of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

Result<std::string> path_string(const nlohmann::json& v, const std::string& key) {
  if (!v.is_string() || v.get<std::string>().empty()) return invalid(key, "must be a non-empty path");
  return v.get<std::string>();
}

Result<AccessRole> parse_role(const std::string& name, const nlohmann::json& table) {
  const std::string where = "auth.roles." + name;
  if (!table.is_object())
    return invalid(where, "must be a table {scopes = [...], models = [...], allow_ips = [...]}");
  AccessRole role;
  role.name = name;
  for (const auto& [k, v] : table.items()) {
    auto list = strings(v, where + " " + k);
    if (!list.ok()) return list.error();
    if (k == "scopes")
      role.scopes = std::move(*list);
    else if (k == "models")
      role.models = std::move(*list);
    else if (k == "allow_ips")
      role.allow_ips = std::move(*list);
    else
      return invalid(where + " " + k, "unknown key (expected scopes, models, allow_ips)");
  }
  if (role.scopes.empty()) return invalid(where, "scopes is empty (" + std::string(kScopeNames) + ")");
  return role;
}

Result<JwtOptions> parse_jwt(const nlohmann::json& table) {
  if (!table.is_object()) return invalid("auth.jwt", "must be a table");
  JwtOptions j;
  for (const auto& [k, v] : table.items()) {
    const std::string where = "auth.jwt " + k;
    if (k == "hs256_secret_env" || k == "issuer" || k == "roles_claim" || k == "subject_claim" ||
        k == "jwks_url") {
      if (!v.is_string() || v.get<std::string>().empty()) return invalid(where, "must be a non-empty string");
      (k == "hs256_secret_env" ? j.hs256_secret_env
       : k == "issuer"         ? j.issuer
       : k == "roles_claim"    ? j.roles_claim
       : k == "jwks_url"       ? j.jwks_url
                               : j.subject_claim) = v.get<std::string>();
    } else if (k == "oidc_discovery") {
      if (!v.is_boolean()) return invalid(where, "must be true or false");
      j.oidc_discovery = v.get<bool>();
    } else if (k == "jwks_refresh_s") {
      if (!v.is_number_integer() || v.get<int64_t>() < 10 || v.get<int64_t>() > 86400)
        return invalid(where, "must be an integer between 10 and 86400");
      j.jwks_refresh = std::chrono::seconds(v.get<int64_t>());
    } else if (k == "jwks_file") {
      auto p = path_string(v, where);
      if (!p.ok()) return p.error();
      j.jwks_file = *p;
    } else if (k == "audience" || k == "audiences") {
      auto a = strings(v, where);
      if (!a.ok()) return a.error();
      j.audiences = std::move(*a);
    } else if (k == "leeway_s") {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 600)
        return invalid(where, "must be an integer between 0 and 600");
      j.leeway = std::chrono::seconds(v.get<int64_t>());
    } else {
      return invalid(where,
                     "unknown key (expected hs256_secret_env, jwks_file, jwks_url, oidc_discovery, "
                     "jwks_refresh_s, issuer, audience, leeway_s, roles_claim, subject_claim)");
    }
  }
  if (!j.enabled())
    return invalid("auth.jwt", "set hs256_secret_env, or one of jwks_file, jwks_url, oidc_discovery");
  if (int(!j.jwks_file.empty()) + int(!j.jwks_url.empty()) + int(j.oidc_discovery) > 1)
    return invalid("auth.jwt",
                   "jwks_file, jwks_url and oidc_discovery name the keys' source: set one of them");
  if (j.oidc_discovery && j.issuer.empty())
    return invalid("auth.jwt oidc_discovery",
                   "needs issuer (the discovery document is ISSUER/.well-known/openid-configuration)");
  if (!j.jwks_url.empty()) {
    auto checked = check_key_url(j.jwks_url, "[server.auth.jwt] jwks_url");
    if (!checked.ok()) return checked.error();
  }
  if (j.oidc_discovery) {
    auto checked = check_key_url(j.issuer, "[server.auth.jwt] issuer (with oidc_discovery)");
    if (!checked.ok()) return checked.error();
  }
  return j;
}

}  // namespace

Result<void> parse_auth_section(const nlohmann::json& auth, ServerOptions& o) {
  if (!auth.is_object()) return invalid("auth", "must be a table with keys = [...]");
  for (const auto& [k, v] : auth.items()) {
    if (k == "keys") {
      if (!v.is_array())
        return invalid("auth", "keys must be an array of {name, sha256, scopes | roles} tables");
      for (const auto& entry : v) {
        auto key = parse_api_key_entry(entry, "auth.keys");
        if (!key.ok()) {
          const std::string& m = key.error().message();
          return m.starts_with("[server") ? key.error() : Error(ErrorCode::config_invalid, "[server] " + m);
        }
        o.keys.push_back(std::move(*key));
      }
    } else if (k == "roles") {
      if (!v.is_object())
        return invalid("auth.roles", "must hold one table per role ([server.auth.roles.NAME])");
      for (const auto& [name, table] : v.items()) {
        auto role = parse_role(name, table);
        if (!role.ok()) return role.error();
        o.roles.push_back(std::move(*role));
      }
    } else if (k == "jwt") {
      auto j = parse_jwt(v);
      if (!j.ok()) return j.error();
      o.jwt = std::move(*j);
    } else if (k == "keys_file") {
      auto p = path_string(v, "auth keys_file");
      if (!p.ok()) return p.error();
      o.keys_file = *p;
    } else {
      return invalid("auth " + k, "unknown key (expected keys, roles, jwt, keys_file)");
    }
  }
  return {};
}

Result<void> parse_audit_section(const nlohmann::json& audit, ServerOptions& o) {
  if (!audit.is_object()) return invalid("audit", "must be a table");
  for (const auto& [k, v] : audit.items()) {
    const std::string where = "audit " + k;
    if (k == "path") {
      auto p = path_string(v, where);
      if (!p.ok()) return p.error();
      o.audit.path = *p;
    } else if (k == "max_bytes") {
      if (!v.is_number_integer() || v.get<int64_t>() < 4096)
        return invalid(where, "must be an integer of at least 4096");
      o.audit.max_bytes = static_cast<size_t>(v.get<int64_t>());
    } else if (k == "keep_files") {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 10000)
        return invalid(where, "must be an integer between 0 and 10000");
      o.audit.keep_files = static_cast<int>(v.get<int64_t>());
    } else if (k == "include_prompts" || k == "enabled") {
      if (!v.is_boolean()) return invalid(where, "must be true or false");
      (k == "enabled" ? o.audit.enabled : o.audit.include_prompts) = v.get<bool>();
    } else {
      return invalid(where, "unknown key (expected enabled, path, max_bytes, keep_files, include_prompts)");
    }
  }
  return {};
}

Result<void> validate_access(const ServerOptions& o) {
  auto roles = compile_roles(o.roles);
  if (!roles.ok()) return roles.error();
  std::set<std::string> names;
  for (const auto& key : o.keys) {
    if (auto r = validate_key(key, *roles, "[server.auth]"); !r.ok()) return r.error();
    if (!names.insert(key.name).second)
      return Error(ErrorCode::config_invalid, "[server.auth] two keys are named '" + key.name + "'");
  }
  if (auto p = parse_cidrs(o.trusted_proxies, "[server] trusted_proxies"); !p.ok()) return p.error();
  return {};
}

}  // namespace xervo::server
