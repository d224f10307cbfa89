// JWT verification: HS256 from an environment secret, RS256 and ES256 from a JWKS file; forged,
// expired, not-yet-valid, wrong-issuer, wrong-audience, alg none and HS/RS-confused tokens refused;
// a rotated JWKS file picked up without a restart.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "jwt_test_keys.h"
#include "server/jwt_verifier.h"

namespace xervo::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kSecret = "0123456789abcdef0123456789abcdef-test-secret";

class JwtTest : public ::testing::Test {
 protected:
  fs::path dir =
      fs::temp_directory_path() / ("xervo-jwt-" + std::to_string(::getpid()) + "-" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TestKeyPair rsa = rsa_key("rsa-1");
  TestKeyPair ec = ec_key("ec-1");

  void SetUp() override {
    fs::create_directories(dir);
    ::setenv("XERVO_TEST_JWT_SECRET", kSecret.c_str(), 1);
  }
  void TearDown() override { fs::remove_all(dir); }

  // Replaces the JWKS file (a new inode, as a deploy's rename does).
  void write_jwks(const std::vector<json>& keys) {
    std::ofstream(dir / "jwks.tmp") << json{{"keys", keys}}.dump();
    fs::rename(dir / "jwks.tmp", dir / "jwks.json");
  }

  std::unique_ptr<server::JwtVerifier> verifier(JwtOptions o = {}) {
    o.hs256_secret_env = "XERVO_TEST_JWT_SECRET";
    o.jwks_file = dir / "jwks.json";
    auto v = server::JwtVerifier::create(o);
    EXPECT_TRUE(v.ok()) << v.error().to_string();
    return v.ok() ? std::move(*v) : nullptr;
  }

  static std::string refusal(const server::JwtVerifier& v, const std::string& token) {
    auto r = v.verify(token, std::chrono::system_clock::now());
    if (r.ok()) return "<accepted>";
    EXPECT_EQ(r.error().code(), ErrorCode::unauthorized);
    return r.error().message();
  }
};

TEST_F(JwtTest, ValidHs256Rs256AndEs256TokensAreAcceptedWithTheirRoles) {
  write_jwks({rsa.jwk, ec.jwk});
  auto v = verifier();
  for (auto token : {sign(JWT_ALG_HS256, kSecret, claims("alice", {"embedder"})),
                     sign(JWT_ALG_RS256, rsa.private_pem, claims("alice", {"embedder"}), "rsa-1"),
                     sign(JWT_ALG_ES256, ec.private_pem, claims("alice", {"embedder"}), "ec-1")}) {
    ASSERT_TRUE(server::looks_like_jwt(token)) << token;
    auto r = v->verify(token, std::chrono::system_clock::now());
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->subject, "alice");
    EXPECT_EQ(r->roles, std::vector<std::string>{"embedder"});
  }
}

TEST_F(JwtTest, ForgedSignaturesAreRefused) {
  write_jwks({rsa.jwk, ec.jwk});
  auto v = verifier();
  // Signed with another secret / another RSA key than the JWKS holds.
  EXPECT_NE(refusal(*v, sign(JWT_ALG_HS256, std::string(40, 'x'), claims("a", {"r"}))).find("signature"),
            std::string::npos);
  TestKeyPair other = rsa_key("rsa-1");
  EXPECT_NE(
      refusal(*v, sign(JWT_ALG_RS256, other.private_pem, claims("a", {"r"}), "rsa-1")).find("signature"),
      std::string::npos);
  // A valid token whose payload was swapped for one with more roles.
  std::string good = sign(JWT_ALG_RS256, rsa.private_pem, claims("a", {"r"}), "rsa-1");
  size_t d1 = good.find('.'), d2 = good.find('.', d1 + 1);
  std::string tampered =
      good.substr(0, d1 + 1) + server::base64url_encode(claims("a", {"admin"}).dump()) + good.substr(d2);
  EXPECT_NE(refusal(*v, tampered).find("signature"), std::string::npos);
}

TEST_F(JwtTest, ExpiredNotYetValidAndTokensWithoutExpAreRefused) {
  JwtOptions o;
  o.leeway = std::chrono::seconds(5);
  auto v = verifier(o);
  EXPECT_NE(refusal(*v, sign(JWT_ALG_HS256, kSecret, claims("a", {"r"}, -60))).find("expired"),
            std::string::npos);
  json early = claims("a", {"r"});
  early["nbf"] = unix_now() + 600;
  EXPECT_NE(refusal(*v, sign(JWT_ALG_HS256, kSecret, early)).find("not valid yet"), std::string::npos);
  json no_exp = claims("a", {"r"});
  no_exp.erase("exp");
  EXPECT_NE(refusal(*v, sign(JWT_ALG_HS256, kSecret, no_exp)).find("exp"), std::string::npos);
  // Within the leeway: accepted.
  EXPECT_TRUE(
      v->verify(sign(JWT_ALG_HS256, kSecret, claims("a", {"r"}, -2)), std::chrono::system_clock::now()).ok());
}

TEST_F(JwtTest, WrongIssuerAndWrongAudienceAreRefused) {
  JwtOptions o;
  o.issuer = "https://idp.test";
  o.audiences = {"xervo"};
  auto v = verifier(o);
  json c = claims("a", {"r"});
  c["iss"] = "https://idp.test";
  c["aud"] = json::array({"other", "xervo"});
  EXPECT_TRUE(v->verify(sign(JWT_ALG_HS256, kSecret, c), std::chrono::system_clock::now()).ok());
  json wrong_aud = c;
  wrong_aud["aud"] = "other";
  EXPECT_NE(refusal(*v, sign(JWT_ALG_HS256, kSecret, wrong_aud)).find("audience"), std::string::npos);
  json wrong_iss = c;
  wrong_iss["iss"] = "https://evil.test";
  EXPECT_NE(refusal(*v, sign(JWT_ALG_HS256, kSecret, wrong_iss)).find("issuer"), std::string::npos);
}

TEST_F(JwtTest, AlgNoneIsRefused) {
  write_jwks({rsa.jwk});
  auto v = verifier();
  for (const char* alg : {"none", "None", "NONE"}) {
    std::string token = assemble({{"alg", alg}, {"typ", "JWT"}}, claims("a", {"admin"}), "");
    EXPECT_NE(refusal(*v, token).find("refused"), std::string::npos) << alg;
  }
}

TEST_F(JwtTest, HsRsAlgorithmConfusionIsRefused) {
  // The classic attack: HS256 with the server's RSA public key (the PEM) as the HMAC secret.
  write_jwks({rsa.jwk});
  auto pem = server::parse_jwks(json{{"keys", {rsa.jwk}}}.dump());
  ASSERT_TRUE(pem.ok());
  const std::string public_pem = (*pem)[0].pem;
  json header = {{"alg", "HS256"}, {"typ", "JWT"}, {"kid", "rsa-1"}};
  json payload = claims("a", {"admin"});
  std::string signing_input =
      server::base64url_encode(header.dump()) + "." + server::base64url_encode(payload.dump());
  std::string forged = signing_input + "." + server::base64url_encode(hmac_sha256(public_pem, signing_input));
  // Where HS256 is configured, the shared secret is tried, never the JWKS key: the signature fails.
  EXPECT_NE(refusal(*verifier(), forged).find("signature"), std::string::npos);
  // Where only the JWKS is configured, HS256 is not accepted at all.
  JwtOptions jwks_only;
  jwks_only.jwks_file = dir / "jwks.json";
  auto v = server::JwtVerifier::create(jwks_only);
  ASSERT_TRUE(v.ok());
  EXPECT_NE(refusal(**v, forged).find("HS256 is not accepted"), std::string::npos);
  // And the reverse: an RS256 header never makes the shared secret a key.
  std::string rs_forged = assemble({{"alg", "RS256"}, {"kid", "nope"}}, payload, hmac_sha256(kSecret, "x"));
  EXPECT_NE(refusal(*verifier(), rs_forged).find("no RS256 key"), std::string::npos);
}

TEST_F(JwtTest, JwksRotationIsPickedUpWithoutARestart) {
  write_jwks({rsa.jwk});
  auto v = verifier();
  std::string old_token = sign(JWT_ALG_RS256, rsa.private_pem, claims("a", {"r"}), "rsa-1");
  EXPECT_TRUE(v->verify(old_token, std::chrono::system_clock::now()).ok());
  TestKeyPair next = rsa_key("rsa-2");
  std::string new_token = sign(JWT_ALG_RS256, next.private_pem, claims("a", {"r"}), "rsa-2");
  EXPECT_NE(refusal(*v, new_token).find("no RS256 key"), std::string::npos);
  write_jwks({next.jwk});  // rotation: the old key is gone, the new one is in
  EXPECT_TRUE(v->verify(new_token, std::chrono::system_clock::now()).ok());
  EXPECT_NE(refusal(*v, old_token).find("no RS256 key"), std::string::npos);
  // A broken file keeps the last good keys.
  std::ofstream(dir / "jwks.tmp") << "{not json";
  fs::rename(dir / "jwks.tmp", dir / "jwks.json");
  EXPECT_TRUE(v->verify(new_token, std::chrono::system_clock::now()).ok());
}

TEST_F(JwtTest, MissingSecretVariableAndShortSecretAreConfigErrors) {
  JwtOptions o;
  o.hs256_secret_env = "XERVO_TEST_JWT_UNSET_VARIABLE";
  ::unsetenv("XERVO_TEST_JWT_UNSET_VARIABLE");
  auto r = server::JwtVerifier::create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::config_invalid);
  ::setenv("XERVO_TEST_JWT_SHORT", "short", 1);
  o.hs256_secret_env = "XERVO_TEST_JWT_SHORT";
  EXPECT_FALSE(server::JwtVerifier::create(o).ok());
}

TEST_F(JwtTest, MalformedTokensAreRefusedWithoutEchoingThem) {
  auto v = verifier();
  for (const std::string& token :
       std::vector<std::string>{"eyJ.a.b", "a.b", "eyJhbGciOiJIUzI1NiJ9..", std::string(20000, 'a')}) {
    std::string why = refusal(*v, token);
    EXPECT_EQ(why.find(token.substr(0, 10) + "."), std::string::npos) << why;
  }
}

}  // namespace
}  // namespace xervo::testing
