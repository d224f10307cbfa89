#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <memory>

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

Authenticator::Authenticator(std::vector<ApiKey> keys) : keys_(std::move(keys)) {
  for (auto& key : keys_) std::transform(key.sha256.begin(), key.sha256.end(), key.sha256.begin(), ::tolower);
}

Result<const ApiKey*> Authenticator::authorize(std::string_view authorization, Scope needed) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.empty())
    return Error(ErrorCode::unauthorized,
                 "this server requires an API key: send 'Authorization: Bearer KEY'");
  if (authorization.size() <= kBearer.size() ||
      !std::equal(kBearer.begin(), kBearer.end(), authorization.begin(),
                  [](char a, char b) { return ::tolower(a) == ::tolower(b); }))
    return Error(ErrorCode::unauthorized, "the Authorization header must be 'Bearer KEY'");
  return authorize_key(authorization.substr(kBearer.size()), needed);
}

Result<const ApiKey*> Authenticator::authorize_key(std::string_view secret, Scope needed) const {
  if (secret.empty()) return Error(ErrorCode::unauthorized, "the API key is empty");
  std::string presented = sha256_hex(secret);
  const ApiKey* match = nullptr;
  // Every hash is compared, whatever matched before, so timing says nothing about the keys.
  for (const auto& key : keys_) {
    if (key.sha256.size() == presented.size() &&
        CRYPTO_memcmp(key.sha256.data(), presented.data(), presented.size()) == 0)
      match = &key;
  }
  if (!match) return Error(ErrorCode::unauthorized, "the API key is not valid for this server");
  auto has = [&](std::string_view scope) {
    return std::find(match->scopes.begin(), match->scopes.end(), scope) != match->scopes.end();
  };
  if (has("admin")) return match;
  if (needed == Scope::inference && has("inference")) return match;
  return Error(ErrorCode::forbidden, "API key '" + match->name + "' lacks the '" +
                                         std::string(needed == Scope::admin ? "admin" : "inference") +
                                         "' scope this route needs");
}

Result<void> validate_api_key(const ApiKey& key) {
  std::string where = "[server.auth] key '" + key.name + "'";
  if (key.name.empty()) return Error(ErrorCode::config_invalid, "[server.auth] a key has no name");
  if (key.sha256.size() != 64 || !std::all_of(key.sha256.begin(), key.sha256.end(), ::isxdigit))
    return Error(ErrorCode::config_invalid,
                 where + ": sha256 must be 64 hex digits; get it with `xervo serve hash-key KEY`");
  if (key.scopes.empty())
    return Error(ErrorCode::config_invalid, where + ": scopes is empty; use [\"inference\"] or [\"admin\"]");
  for (const auto& s : key.scopes)
    if (s != "inference" && s != "admin")
      return Error(ErrorCode::config_invalid, where + ": unknown scope '" + s + "' (inference or admin)");
  return {};
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
