#include "server/jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/log.h"
#include "net/base64.h"

namespace xervo::server {
namespace {

constexpr size_t kMaxJwksBytes = 1u << 20;
constexpr size_t kMaxKeys = 256;

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

Error bad_key(const std::string& kid, const std::string& what) {
  return Error(ErrorCode::invalid_input, "JWKS key '" + log_escape(kid.substr(0, 64)) + "': " + what);
}

Result<std::string> member(const nlohmann::json& jwk, const char* name, const std::string& kid) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) return bad_key(kid, std::string("'") + name + "' is missing");
  auto bytes = base64url_decode(it->get<std::string>());
  if (!bytes || bytes->empty()) return bad_key(kid, std::string("'") + name + "' is not base64url");
  return *bytes;
}

// Builds the public key from its parameters and writes it as PEM.
Result<std::string> to_pem(const char* type, OSSL_PARAM_BLD* bld, const std::string& kid) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
    return bad_key(kid, "OpenSSL refused its parameters");
  std::unique_ptr<EVP_PKEY, KeyFree> key(raw);
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1)
    return bad_key(kid, "cannot be written as PEM");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> rsa_pem(const nlohmann::json& jwk, const std::string& kid) {
  auto n = member(jwk, "n", kid);
  if (!n.ok()) return n.error();
  auto e = member(jwk, "e", kid);
  if (!e.ok()) return e.error();
  if (n->size() < 256) return bad_key(kid, "an RSA modulus under 2048 bits is refused");
  if (n->size() > 2048) return bad_key(kid, "an RSA modulus over 16384 bits is refused");
  std::unique_ptr<BIGNUM, BnFree> bn_n(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr));
  std::unique_ptr<BIGNUM, BnFree> bn_e(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr));
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()))
    return bad_key(kid, "out of memory");
  return to_pem("RSA", bld.get(), kid);
}

Result<std::string> ec_pem(const nlohmann::json& jwk, const std::string& kid) {
  auto x = member(jwk, "x", kid);
  if (!x.ok()) return x.error();
  auto y = member(jwk, "y", kid);
  if (!y.ok()) return y.error();
  if (x->size() != 32 || y->size() != 32) return bad_key(kid, "x and y must be 32 bytes for P-256");
  std::string point = "\x04" + *x + *y;  // uncompressed SEC1 point
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()))
    return bad_key(kid, "out of memory");
  return to_pem("EC", bld.get(), kid);
}

}  // namespace

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-')
      v = 62;
    else if (c == '_')
      v = 63;
    else if (c == '=')
      break;  // tolerated padding ends the data
    else
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string base64url_encode(std::string_view bytes) { return net::base64_encode(bytes, net::Base64::url); }

std::string lenient_string(const nlohmann::json& object, const char* name) {
  if (!object.is_object()) return {};
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<std::vector<PublicJwk>> parse_jwks(std::string_view json) {
  if (json.size() > kMaxJwksBytes) return Error(ErrorCode::invalid_input, "the JWKS is larger than 1 MiB");
  auto doc = nlohmann::json::parse(json, nullptr, false);
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array())
    return Error(ErrorCode::invalid_input, "not a JWKS: expected {\"keys\": [...]}");
  if (doc["keys"].size() > kMaxKeys)
    return Error(ErrorCode::invalid_input, "the JWKS holds more than 256 keys");
  std::vector<PublicJwk> out;
  for (const auto& jwk : doc["keys"]) {
    if (!jwk.is_object()) return Error(ErrorCode::invalid_input, "a JWKS key is not an object");
    PublicJwk key;
    key.kid = lenient_string(jwk, "kid");
    key.kty = lenient_string(jwk, "kty");
    key.alg = lenient_string(jwk, "alg");
    if (jwk.contains("use") && lenient_string(jwk, "use") != "sig") continue;
    Result<std::string> pem = std::string();
    if (key.kty == "RSA") {
      pem = rsa_pem(jwk, key.kid);
    } else if (key.kty == "EC" && lenient_string(jwk, "crv") == "P-256") {
      pem = ec_pem(jwk, key.kid);
    } else {
      continue;  // "oct" (a shared secret has no place in a public key set), other curves
    }
    if (!pem.ok()) return pem.error();
    key.pem = std::move(*pem);
    out.push_back(std::move(key));
  }
  return out;
}

std::shared_ptr<const std::vector<PublicJwk>> JwksFile::keys(std::string_view) {
  std::lock_guard lock(mu_);
  if (!watch_.changed()) return keys_;
  std::ifstream in(watch_.path(), std::ios::binary);
  std::string text;
  if (in) {
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  auto parsed = in ? parse_jwks(text)
                   : Result<std::vector<PublicJwk>>(Error(ErrorCode::io_error, "cannot read the file"));
  if (!parsed.ok()) {
    spdlog::error("JWKS {}: {}; keeping the {} key(s) read before", watch_.path().string(),
                  parsed.error().message(), keys_->size());
    return keys_;
  }
  spdlog::info("JWKS {}: {} key(s)", watch_.path().string(), parsed->size());
  keys_ = std::make_shared<const std::vector<PublicJwk>>(std::move(*parsed));
  return keys_;
}

}  // namespace xervo::server
