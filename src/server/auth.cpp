#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <set>

#include "core/log.h"
#include "server/audit_log.h"
#include "server/key_file.h"

namespace xervo {

std::string sha256_hex(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

namespace server {
namespace {

constexpr size_t kMaxTokenOwners = 10000;

void lower(std::string& s) { std::transform(s.begin(), s.end(), s.begin(), ::tolower); }

std::set<std::string> names_of(const std::vector<ApiKey>& keys) {
  std::set<std::string> out;
  for (const auto& k : keys) out.insert(k.name);
  return out;
}

}  // namespace

Result<std::unique_ptr<Authenticator>> Authenticator::create(const ServerOptions& options, AuditLog* audit) {
  std::unique_ptr<Authenticator> a(new Authenticator());
  auto roles = compile_roles(options.roles);
  if (!roles.ok()) return roles.error();
  a->roles_ = std::move(*roles);
  std::set<std::string> names;
  for (auto key : options.keys) {
    if (auto r = validate_key(key, a->roles_, "[server.auth]"); !r.ok()) return r.error();
    if (!names.insert(key.name).second)
      return Error(ErrorCode::config_invalid, "[server.auth] two keys are named '" + key.name + "'");
    lower(key.sha256);
    a->config_keys_.push_back(std::move(key));
  }
  if (options.jwt.enabled()) {
    auto v = JwtVerifier::create(options.jwt);
    if (!v.ok()) return v.error();
    a->jwt_ = std::move(*v);
  }
  a->audit_ = audit;
  if (!options.keys_file.empty()) a->keys_file_.emplace(options.keys_file);
  auto set = std::make_shared<KeySet>();
  set->keys = a->config_keys_;
  a->keys_ = std::move(set);
  return a;
}

std::shared_ptr<const Authenticator::KeySet> Authenticator::current() const {
  std::lock_guard lock(mu_);
  if (!keys_file_ || !keys_file_->changed()) return keys_;
  const auto& path = keys_file_->path();
  auto read = read_keys_file(path);
  if (!read.ok()) {
    // Keep what was read before: a half-edited file must not open the server or lock it shut.
    spdlog::error("keys file {}: {}; keeping the {} key(s) read before", path.string(),
                  read.error().message(), keys_->keys.size());
    return keys_;
  }
  auto set = std::make_shared<KeySet>();
  set->keys = config_keys_;
  set->file_exists = read->has_value();
  std::set<std::string> names = names_of(config_keys_);
  for (auto& stored : read->value_or(std::vector<StoredKey>{})) {
    ApiKey key = std::move(stored.key);
    if (auto r = validate_key(key, roles_, "keys file " + path.string()); !r.ok()) {
      spdlog::error("{}; that key is ignored", r.error().message());
      continue;
    }
    if (!names.insert(key.name).second) {
      spdlog::error("keys file {}: a second key is named '{}'; it is ignored", path.string(),
                    log_escape(key.name));
      continue;
    }
    lower(key.sha256);
    set->keys.push_back(std::move(key));
  }
  if (on_removed_) {
    std::set<std::string> kept;
    for (const auto& k : set->keys) kept.insert(k.sha256);
    for (const auto& k : keys_->keys)
      if (!kept.count(k.sha256)) on_removed_(k.sha256);
  }
  auto before = names_of(keys_->keys);
  auto after = names_of(set->keys);
  nlohmann::json added = nlohmann::json::array(), removed = nlohmann::json::array();
  for (const auto& n : after)
    if (!before.count(n)) added.push_back(n);
  for (const auto& n : before)
    if (!after.count(n)) removed.push_back(n);
  if (!added.empty() || !removed.empty() || set->file_exists != keys_->file_exists) {
    spdlog::info("keys file {}: {} key(s) ({} added, {} removed)", path.string(),
                 set->keys.size() - config_keys_.size(), added.size(), removed.size());
    if (audit_ && file_read_)
      (void)audit_->record("keys_reloaded",
                           {{"file", path.string()}, {"added", added}, {"removed", removed}});
  }
  keys_ = std::move(set);
  file_read_ = true;
  return keys_;
}

bool Authenticator::enabled() const {
  if (!config_keys_.empty() || jwt_) return true;
  return current()->file_exists;
}

const ApiKey* Authenticator::find_key(const KeySet& set, std::string_view secret) const {
  const std::string presented = sha256_hex(secret);
  const ApiKey* match = nullptr;
  // Every hash is compared, whatever matched before, so timing says nothing about the keys.
  for (const auto& key : set.keys) {
    if (key.sha256.size() == presented.size() &&
        CRYPTO_memcmp(key.sha256.data(), presented.data(), presented.size()) == 0)
      match = &key;
  }
  return match;
}

Result<std::shared_ptr<const Principal>> Authenticator::authenticate(
    std::string_view credential, const std::optional<IpAddress>& client) const {
  if (credential.empty()) return Error(ErrorCode::unauthorized, "the API key is empty");
  if (jwt_ && looks_like_jwt(credential)) {
    auto token = jwt_->verify(credential, std::chrono::system_clock::now());
    if (!token.ok()) return token.error();
    auto p = token_principal(token->subject, token->roles, roles_, client);
    if (!p.ok()) return p.error();
    std::lock_guard lock(mu_);
    if (token_owners_.size() >= kMaxTokenOwners) token_owners_.clear();
    token_owners_[(*p)->id()] = *p;
    return p;
  }
  auto set = current();
  const ApiKey* key = find_key(*set, credential);
  if (!key) return Error(ErrorCode::unauthorized, "the API key is not valid for this server");
  if (revoked_ && revoked_(key->sha256))
    return Error(ErrorCode::unauthorized, "the API key was revoked (on a replica of this cluster)");
  return key_principal(*key, roles_, client);
}

Result<std::shared_ptr<const Principal>> Authenticator::authenticate_bearer(
    std::string_view authorization, const std::optional<IpAddress>& client) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.empty())
    return Error(ErrorCode::unauthorized,
                 "this server requires an API key: send 'Authorization: Bearer KEY'");
  if (authorization.size() <= kBearer.size() ||
      !std::equal(kBearer.begin(), kBearer.end(), authorization.begin(),
                  [](char a, char b) { return ::tolower(a) == ::tolower(b); }))
    return Error(ErrorCode::unauthorized, "the Authorization header must be 'Bearer KEY'");
  return authenticate(authorization.substr(kBearer.size()), client);
}

Result<std::shared_ptr<const Principal>> Authenticator::owner_principal(const std::string& owner) const {
  if (owner.starts_with("key:")) {
    auto set = current();
    const std::string name = owner.substr(4);
    for (const auto& key : set->keys) {
      if (key.name != name) continue;
      if (revoked_ && revoked_(key.sha256)) break;
      ApiKey anywhere = key;
      anywhere.allow_ips.clear();
      RoleTable roles = roles_;
      for (auto& [n, g] : roles) g.allow_ips.clear();
      return key_principal(anywhere, roles, std::nullopt);
    }
    return Error(ErrorCode::unauthorized, "the API key '" + name + "' that made this batch no longer exists");
  }
  std::lock_guard lock(mu_);
  if (auto it = token_owners_.find(owner); it != token_owners_.end()) return it->second;
  return Error(ErrorCode::unauthorized, "the token of '" + owner +
                                            "' that made this batch has not authenticated since the server "
                                            "started; send any request with it to resume its batches");
}

std::string generate_api_key() {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::array<unsigned char, 43> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) return {};
  std::string key = "xk-";
  for (unsigned char b : bytes) key += kAlphabet[b & 63];
  return key;
}

}  // namespace server
}  // namespace xervo
