#include "server/jwt_verifier.h"

#include <jwt.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "net/http_client.h"
#include "server/jwks_url.h"

namespace xervo::server {
namespace {

constexpr size_t kMaxTokenBytes = 16 * 1024;
constexpr size_t kMinSecretBytes = 32;  // RFC 7518 3.2: an HS256 key at least as long as the hash

struct JwtFree {
  void operator()(jwt_t* j) const { jwt_free(j); }
};

Error refused(const std::string& why) {
  return Error(ErrorCode::unauthorized, "bearer token refused: " + why);
}

std::optional<nlohmann::json> decode_part(std::string_view part) {
  auto bytes = base64url_decode(part);
  if (!bytes) return std::nullopt;
  auto j = nlohmann::json::parse(*bytes, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  return j;
}

// A NumericDate claim; nullopt when absent, error text when not a number.
Result<std::optional<double>> numeric_claim(const nlohmann::json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<double>();
  if (!it->is_number()) return refused(std::string("'") + name + "' is not a number");
  return std::optional<double>(it->get<double>());
}

const nlohmann::json* claim_at(const nlohmann::json& claims, const std::string& dotted) {
  const nlohmann::json* node = &claims;
  size_t pos = 0;
  while (true) {
    size_t dot = dotted.find('.', pos);
    std::string part = dotted.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (!node->is_object() || !node->contains(part)) return nullptr;
    node = &(*node)[part];
    if (dot == std::string::npos) return node;
    pos = dot + 1;
  }
}

// A role claim: an array of strings, or one space-separated string (as OAuth's "scope" is).
std::vector<std::string> role_names(const nlohmann::json* value) {
  std::vector<std::string> out;
  constexpr size_t kMaxRoles = 64;
  if (!value) return out;
  if (value->is_array()) {
    for (const auto& r : *value)
      if (r.is_string() && out.size() < kMaxRoles) out.push_back(r.get<std::string>());
  } else if (value->is_string()) {
    std::string s = value->get<std::string>();
    size_t pos = 0;
    while (pos < s.size() && out.size() < kMaxRoles) {
      size_t sp = s.find(' ', pos);
      if (sp == std::string::npos) sp = s.size();
      if (sp > pos) out.push_back(s.substr(pos, sp - pos));
      pos = sp + 1;
    }
  }
  return out;
}

bool sane_subject(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f || c == '"' || c == '\\') return false;
  return true;
}

}  // namespace

bool looks_like_jwt(std::string_view credential) {
  size_t dots = 0;
  for (char c : credential) {
    if (c == '.') {
      ++dots;
    } else if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return false;
    }
  }
  return dots == 2 && credential.starts_with("eyJ");
}

Result<std::unique_ptr<JwtVerifier>> JwtVerifier::create(const JwtOptions& options) {
  std::unique_ptr<JwtVerifier> v(new JwtVerifier(options));
  if (!options.hs256_secret_env.empty()) {
    const char* secret = std::getenv(options.hs256_secret_env.c_str());
    if (!secret || !*secret)
      return Error(ErrorCode::config_invalid,
                   "[server.auth.jwt] hs256_secret_env: the environment variable '" +
                       options.hs256_secret_env + "' is not set");
    v->secret_ = secret;
    if (v->secret_.size() < kMinSecretBytes)
      return Error(ErrorCode::config_invalid, "[server.auth.jwt] hs256_secret_env: the secret in '" +
                                                  options.hs256_secret_env + "' must have at least 32 bytes");
  }
  if (!options.jwks_file.empty()) v->jwks_ = std::make_unique<JwksFile>(options.jwks_file);
  if (!options.jwks_url.empty() || options.oidc_discovery) {
    JwksUrlOptions u;
    u.jwks_url = options.jwks_url;
    if (options.oidc_discovery) {
      std::string issuer = options.issuer;
      while (issuer.ends_with('/')) issuer.pop_back();
      u.discovery_url = issuer + "/.well-known/openid-configuration";
      u.issuer = options.issuer;
    }
    u.refresh = options.jwks_refresh;
    v->jwks_ = JwksUrl::start(std::move(u), net::HttpClient::shared());
  }
  return v;
}

Result<VerifiedToken> JwtVerifier::verify(std::string_view token,
                                          std::chrono::system_clock::time_point now) const {
  if (token.size() > kMaxTokenBytes) return refused("longer than 16 KiB");
  const size_t first = token.find('.');
  const size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return refused("not a JWT (header.payload.signature)");
  auto header = decode_part(token.substr(0, first));
  if (!header) return refused("its header is not base64url JSON");
  const std::string alg = lenient_string(*header, "alg");
  // The algorithm decides the kind of key; a key of another kind is never tried.
  std::string key;
  jwt_alg_t expected = JWT_ALG_INVAL;
  if (alg == "HS256") {
    if (secret_.empty()) return refused("HS256 is not accepted here (no [server.auth.jwt] hs256_secret_env)");
    key = secret_;
    expected = JWT_ALG_HS256;
  } else if (alg == "RS256" || alg == "ES256") {
    if (!jwks_) return refused(alg + " is not accepted here (no [server.auth.jwt] jwks_file or jwks_url)");
    const std::string kty = alg == "RS256" ? "RSA" : "EC";
    const std::string kid = lenient_string(*header, "kid");
    if (kid.size() > 256) return refused("its kid is longer than 256 characters");
    const PublicJwk* match = nullptr;
    size_t candidates = 0;
    auto find = [&](const std::vector<PublicJwk>& keys) {
      match = nullptr;
      candidates = 0;
      for (const auto& k : keys) {
        if (k.kty != kty || (!k.alg.empty() && k.alg != alg)) continue;
        if (!kid.empty() && k.kid != kid) continue;
        ++candidates;
        match = &k;
      }
    };
    auto keys = jwks_->keys();
    find(*keys);
    if (!match) {  // a rotation the source has not seen yet: it may fetch again (rate-limited)
      keys = jwks_->keys(kid.empty() ? std::string_view("?") : std::string_view(kid));
      find(*keys);
    }
    if (!match) {
      const std::string why = jwks_->unavailable_reason();
      if (!why.empty()) return refused("no key to check it against: " + why);
      return refused("no " + alg + " key in the JWKS" + (kid.empty() ? "" : " with this kid"));
    }
    if (candidates > 1) return refused("the token names no kid and the JWKS holds several " + alg + " keys");
    key = match->pem;
    expected = alg == "RS256" ? JWT_ALG_RS256 : JWT_ALG_ES256;
  } else {
    return refused("algorithm '" + alg.substr(0, 16) + "' is refused (HS256, RS256, ES256 only)");
  }
  const std::string text(token);
  jwt_t* raw = nullptr;
  int rc = jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(key.data()),
                      static_cast<int>(key.size()));
  std::unique_ptr<jwt_t, JwtFree> jwt(raw);
  if (rc != 0 || !jwt) return refused("the signature does not verify");
  if (jwt_get_alg(jwt.get()) != expected) return refused("the algorithm changed while decoding");

  // The signature covers these exact bytes, so reading the payload ourselves reads what was signed.
  auto claims = decode_part(token.substr(first + 1, second - first - 1));
  if (!claims) return refused("its payload is not base64url JSON");
  const double t = std::chrono::duration<double>(now.time_since_epoch()).count();
  const double leeway = static_cast<double>(options_.leeway.count());
  auto exp = numeric_claim(*claims, "exp");
  if (!exp.ok()) return exp.error();
  if (!*exp) return refused("it has no 'exp' (tokens must expire)");
  if (t > **exp + leeway) return refused("it has expired");
  auto nbf = numeric_claim(*claims, "nbf");
  if (!nbf.ok()) return nbf.error();
  if (*nbf && t + leeway < **nbf) return refused("it is not valid yet (nbf)");
  if (!options_.issuer.empty() && lenient_string(*claims, "iss") != options_.issuer)
    return refused("its issuer is not '" + options_.issuer + "'");
  if (!options_.audiences.empty()) {
    std::vector<std::string> aud;
    if (auto it = claims->find("aud"); it != claims->end()) {
      if (it->is_string()) aud.push_back(it->get<std::string>());
      if (it->is_array())
        for (const auto& a : *it)
          if (a.is_string()) aud.push_back(a.get<std::string>());
    }
    bool ok = false;
    for (const auto& a : aud)
      for (const auto& want : options_.audiences) ok = ok || a == want;
    if (!ok) return refused("its audience is not one this server accepts");
  }
  VerifiedToken out;
  const nlohmann::json* sub = claim_at(*claims, options_.subject_claim);
  out.subject = sub && sub->is_string() ? sub->get<std::string>() : std::string();
  if (!sane_subject(out.subject))
    return refused("its '" + options_.subject_claim +
                   "' claim is missing or not 1 to 128 printable characters");
  out.roles = role_names(claim_at(*claims, options_.roles_claim));
  return out;
}

}  // namespace xervo::server
