#include "server/access_policy.h"

#include <algorithm>

namespace xervo::server {
namespace {

constexpr std::pair<Scope, std::string_view> kScopes[] = {{Scope::inference, "inference"},
                                                          {Scope::batch, "batch"},
                                                          {Scope::metrics, "metrics"},
                                                          {Scope::library, "library"},
                                                          {Scope::admin, "admin"}};

constexpr size_t kMaxPatterns = 1024;

Result<std::vector<Scope>> parse_scopes(const std::vector<std::string>& names, const std::string& where) {
  std::vector<Scope> out;
  for (const auto& n : names) {
    auto s = parse_scope(n);
    if (!s)
      return Error(ErrorCode::config_invalid,
                   where + ": unknown scope '" + n.substr(0, 64) + "' (" + std::string(kScopeNames) + ")");
    out.push_back(*s);
  }
  return out;
}

bool applies_from(const Grant& g, const std::optional<IpAddress>& client) {
  if (g.allow_ips.empty()) return true;
  return client && any_contains(g.allow_ips, *client);
}

std::string from_text(const std::optional<IpAddress>& client) {
  return client ? to_string(*client) : std::string("this client");
}

}  // namespace

std::string_view to_string(Scope scope) {
  for (const auto& [s, name] : kScopes)
    if (s == scope) return name;
  return "unknown";
}

std::optional<Scope> parse_scope(std::string_view name) {
  for (const auto& [s, n] : kScopes)
    if (n == name) return s;
  return std::nullopt;
}

bool scope_allows(Scope held, Scope needed) {
  if (held == needed || held == Scope::admin) return true;
  return held == Scope::inference && (needed == Scope::batch || needed == Scope::metrics);
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative matching with one backtrack point: linear in practice, never exponential.
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool Principal::has(Scope needed) const {
  for (const auto& g : grants)
    for (Scope s : g.scopes)
      if (scope_allows(s, needed)) return true;
  return false;
}

bool Principal::may_use_model(std::string_view model) const {
  for (const auto& g : grants) {
    if (!g.models) return true;
    for (const auto& pattern : *g.models)
      if (glob_match(pattern, model)) return true;
  }
  return false;
}

std::string Principal::models_text() const {
  std::string out;
  size_t listed = 0;
  for (const auto& g : grants) {
    if (!g.models) return "every model";
    for (const auto& p : *g.models) {
      if (listed++ == 10) return out + ", ...";
      out += (out.empty() ? "" : ", ") + p;
    }
  }
  return out.empty() ? "no model" : out;
}

Result<Grant> compile_role(const AccessRole& role) {
  const std::string where = "[server.auth.roles." + role.name + "]";
  if (role.name.empty() || role.name.size() > 64)
    return Error(ErrorCode::config_invalid, "[server.auth.roles] a role name must have 1 to 64 characters");
  Grant g;
  g.source = "role " + role.name;
  auto scopes = parse_scopes(role.scopes, where + " scopes");
  if (!scopes.ok()) return scopes.error();
  g.scopes = *scopes;
  if (role.models) {
    if (role.models->size() > kMaxPatterns)
      return Error(ErrorCode::config_invalid, where + " models: at most " + std::to_string(kMaxPatterns));
    for (const auto& m : *role.models)
      if (m.empty() || m.size() > 4096)
        return Error(ErrorCode::config_invalid, where + " models: a pattern must have 1 to 4096 characters");
    g.models = role.models;
  }
  auto ips = parse_cidrs(role.allow_ips, where + " allow_ips");
  if (!ips.ok()) return ips.error();
  g.allow_ips = *ips;
  return g;
}

Result<RoleTable> compile_roles(const std::vector<AccessRole>& roles) {
  RoleTable table;
  for (const auto& r : roles) {
    auto g = compile_role(r);
    if (!g.ok()) return g.error();
    if (!table.emplace(r.name, std::move(*g)).second)
      return Error(ErrorCode::config_invalid, "[server.auth.roles] two roles are named '" + r.name + "'");
  }
  return table;
}

Result<void> validate_key(const ApiKey& key, const RoleTable& roles, const std::string& where) {
  const std::string at = where + " key '" + key.name + "'";
  if (key.name.empty() || key.name.size() > 128)
    return Error(ErrorCode::config_invalid, where + ": a key needs a name of 1 to 128 characters");
  for (char c : key.name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"' || c == '\\')
      return Error(ErrorCode::config_invalid,
                   where + ": key names may not hold quotes, backslashes or control characters");
  if (key.sha256.size() != 64 || !std::all_of(key.sha256.begin(), key.sha256.end(), ::isxdigit))
    return Error(ErrorCode::config_invalid,
                 at + ": sha256 must be 64 hex digits; get it with `xervo serve hash-key KEY`");
  if (key.scopes.empty() && key.roles.empty())
    return Error(ErrorCode::config_invalid,
                 at + ": give it scopes ([\"inference\"], [\"admin\"] ...) or roles");
  if (auto s = parse_scopes(key.scopes, at + " scopes"); !s.ok()) return s.error();
  for (const auto& r : key.roles)
    if (!roles.count(r))
      return Error(ErrorCode::config_invalid,
                   at + ": no role '" + r.substr(0, 64) + "' under [server.auth.roles]");
  if (auto ips = parse_cidrs(key.allow_ips, at + " allow_ips"); !ips.ok()) return ips.error();
  return {};
}

Result<std::shared_ptr<const Principal>> key_principal(const ApiKey& key, const RoleTable& roles,
                                                       const std::optional<IpAddress>& client) {
  auto p = std::make_shared<Principal>();
  p->kind = "key";
  p->name = key.name;
  p->roles = key.roles;
  p->requests_per_minute = key.requests_per_minute;
  p->tokens_per_minute = key.tokens_per_minute;
  p->allow_model_ids = key.allow_model_ids;
  if (!key.allow_ips.empty()) {
    auto ips = parse_cidrs(key.allow_ips, "key");  // validated when the key was read
    if (!ips.ok() || !client || !any_contains(*ips, *client))
      return Error(ErrorCode::forbidden, "API key '" + key.name + "' may not be used from " +
                                             from_text(client) + " (its allow_ips)");
  }
  if (!key.scopes.empty()) {
    Grant own;
    own.source = "key scopes";
    own.scopes = parse_scopes(key.scopes, "key").value();
    p->grants.push_back(std::move(own));
  }
  bool excluded = false;
  for (const auto& name : key.roles) {
    auto it = roles.find(name);
    if (it == roles.end()) continue;
    if (applies_from(it->second, client))
      p->grants.push_back(it->second);
    else
      excluded = true;
  }
  if (p->grants.empty())
    return Error(ErrorCode::forbidden, "API key '" + key.name + "' has no role that applies from " +
                                           from_text(client) + (excluded ? " (the roles' allow_ips)" : ""));
  return std::shared_ptr<const Principal>(std::move(p));
}

Result<std::shared_ptr<const Principal>> token_principal(std::string subject,
                                                         const std::vector<std::string>& role_names,
                                                         const RoleTable& roles,
                                                         const std::optional<IpAddress>& client) {
  auto p = std::make_shared<Principal>();
  p->kind = "jwt";
  p->name = std::move(subject);
  bool known = false;
  for (const auto& name : role_names) {
    auto it = roles.find(name);
    if (it == roles.end()) continue;
    known = true;
    p->roles.push_back(name);
    if (applies_from(it->second, client)) p->grants.push_back(it->second);
  }
  if (!known)
    return Error(ErrorCode::forbidden,
                 "the token of '" + p->name + "' carries no role this server knows ([server.auth.roles])");
  if (p->grants.empty())
    return Error(ErrorCode::forbidden,
                 "the token of '" + p->name + "' has no role that applies from " + from_text(client));
  return std::shared_ptr<const Principal>(std::move(p));
}

}  // namespace xervo::server
