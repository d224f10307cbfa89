// Test-only signing keys and tokens: RSA 2048 and P-256 key pairs made with OpenSSL, their public
// halves as JWKs, and tokens signed with libjwt (HS256, RS256, ES256) or assembled by hand (alg none,
// forged signatures). Tests only.
#pragma once

#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "server/jwks.h"

namespace xervo::testing {

struct TestKeyPair {
  std::string private_pem;
  nlohmann::json jwk;  // the public half
};

inline std::string bn_bytes(EVP_PKEY* key, const char* param, size_t pad = 0) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(key, param, &bn);
  std::string out(std::max<size_t>(pad, BN_num_bytes(bn)), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return out;
}

inline std::string private_pem_of(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  return pem;
}

inline TestKeyPair rsa_key(const std::string& kid) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  TestKeyPair k;
  k.private_pem = private_pem_of(key);
  k.jwk = {{"kty", "RSA"},
           {"kid", kid},
           {"use", "sig"},
           {"n", server::base64url_encode(bn_bytes(key, OSSL_PKEY_PARAM_RSA_N))},
           {"e", server::base64url_encode(bn_bytes(key, OSSL_PKEY_PARAM_RSA_E))}};
  EVP_PKEY_free(key);
  return k;
}

inline TestKeyPair ec_key(const std::string& kid) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  TestKeyPair k;
  k.private_pem = private_pem_of(key);
  k.jwk = {{"kty", "EC"},
           {"kid", kid},
           {"crv", "P-256"},
           {"x", server::base64url_encode(bn_bytes(key, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
           {"y", server::base64url_encode(bn_bytes(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
  EVP_PKEY_free(key);
  return k;
}

inline int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Claims valid for the next hour, for subject `sub` with `roles`.
inline nlohmann::json claims(const std::string& sub, nlohmann::json roles, int64_t exp_in = 3600) {
  return {{"sub", sub}, {"roles", std::move(roles)}, {"exp", unix_now() + exp_in}, {"iat", unix_now()}};
}

// Signs `payload` with libjwt: alg JWT_ALG_HS256 / RS256 / ES256 and its key (secret or private PEM).
inline std::string sign(jwt_alg_t alg, const std::string& key, const nlohmann::json& payload,
                        const std::string& kid = "") {
  jwt_t* jwt = nullptr;
  jwt_new(&jwt);
  jwt_add_grants_json(jwt, payload.dump().c_str());
  if (!kid.empty()) jwt_add_header(jwt, "kid", kid.c_str());
  jwt_set_alg(jwt, alg, reinterpret_cast<const unsigned char*>(key.data()), static_cast<int>(key.size()));
  char* out = jwt_encode_str(jwt);
  std::string token = out ? out : "";
  std::free(out);
  jwt_free(jwt);
  return token;
}

// A token assembled by hand: header and payload as given, signature as given (base64url of bytes).
inline std::string assemble(const nlohmann::json& header, const nlohmann::json& payload,
                            const std::string& signature) {
  return server::base64url_encode(header.dump()) + "." + server::base64url_encode(payload.dump()) + "." +
         server::base64url_encode(signature);
}

// HMAC-SHA256 of `data` under `key`, as an HS256 forger would compute it.
inline std::string hmac_sha256(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = sizeof out;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, sizeof out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace xervo::testing
