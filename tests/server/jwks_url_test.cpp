// JWKS from an OIDC issuer over HTTP (a server on 127.0.0.1 stands in for the issuer): discovery,
// the first fetch at start, rotation picked up through an unknown kid, the early-fetch rate limit,
// last good keys kept over a failing or hostile issuer, and the URL rules (https, loopback http).
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "jwt_test_keys.h"
#include "net/http_client.h"
#include "otlp_collector.h"
#include "server/jwks_url.h"
#include "server/jwt_verifier.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

// An issuer: /.well-known/openid-configuration and /keys, with a body, status and delay set by the test.
class FakeIssuer {
 public:
  FakeIssuer() {
    server_.Get("/.well-known/openid-configuration", [this](const httplib::Request&, httplib::Response& res) {
      ++discovery_hits;
      std::lock_guard lock(mu_);
      res.set_content(
          discovery_.empty() ? json{{"issuer", url()}, {"jwks_uri", url() + "/keys"}}.dump() : discovery_,
          "application/json");
    });
    server_.Get("/keys", [this](const httplib::Request&, httplib::Response& res) {
      ++key_hits;
      std::lock_guard lock(mu_);
      res.status = status_;
      res.set_content(body_, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the listen loop runs would be lost, and the destructor's join would wait forever.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeIssuer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void serve(const std::vector<json>& keys) { serve_raw(json{{"keys", keys}}.dump()); }
  void serve_raw(std::string body, int status = 200) {
    std::lock_guard lock(mu_);
    body_ = std::move(body);
    status_ = status;
  }
  void discovery(std::string doc) {
    std::lock_guard lock(mu_);
    discovery_ = std::move(doc);
  }
  std::atomic<int> key_hits{0};
  std::atomic<int> discovery_hits{0};

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::string body_ = R"({"keys":[]})";
  int status_ = 200;
  std::string discovery_;
};

server::JwksUrlOptions url_options(const FakeIssuer& issuer) {
  server::JwksUrlOptions o;
  o.jwks_url = issuer.url() + "/keys";
  o.timeout = std::chrono::milliseconds(2000);
  return o;
}

std::string verdict(const server::JwtVerifier& v, const std::string& token) {
  auto r = v.verify(token, std::chrono::system_clock::now());
  return r.ok() ? "<accepted>" : r.error().message();
}

TEST(JwksUrl, DiscoveryFindsTheKeysAndTokensVerify) {
  FakeIssuer issuer;
  TestKeyPair rsa = rsa_key("rsa-1");
  TestKeyPair ec = ec_key("ec-1");
  issuer.serve({rsa.jwk, ec.jwk});
  JwtOptions o;
  o.oidc_discovery = true;
  o.issuer = issuer.url();
  auto v = server::JwtVerifier::create(o);
  ASSERT_TRUE(v.ok()) << v.error().to_string();
  json c = claims("alice", {"r"});
  c["iss"] = issuer.url();
  EXPECT_EQ(verdict(**v, sign(JWT_ALG_RS256, rsa.private_pem, c, "rsa-1")), "<accepted>");
  EXPECT_EQ(verdict(**v, sign(JWT_ALG_ES256, ec.private_pem, c, "ec-1")), "<accepted>");
  EXPECT_EQ(issuer.discovery_hits.load(), 1);
  EXPECT_EQ(issuer.key_hits.load(), 1);  // fetched once at start, not per token
}

TEST(JwksUrl, ADiscoveryDocumentOfAnotherIssuerOrWithoutJwksUriIsRefused) {
  FakeIssuer issuer;
  TestKeyPair rsa = rsa_key("rsa-1");
  issuer.serve({rsa.jwk});
  issuer.discovery(json{{"issuer", "http://127.0.0.1:1"}, {"jwks_uri", issuer.url() + "/keys"}}.dump());
  server::JwksUrlOptions o;
  o.discovery_url = issuer.url() + "/.well-known/openid-configuration";
  o.issuer = issuer.url();
  auto source = server::JwksUrl::start(o, net::HttpClient::shared());
  EXPECT_TRUE(source->keys()->empty());
  EXPECT_NE(source->unavailable_reason().find("issuer is not"), std::string::npos)
      << source->unavailable_reason();
  EXPECT_EQ(issuer.key_hits.load(), 0);  // the keys of a document that names someone else are never fetched

  FakeIssuer plain;
  plain.discovery(json{{"issuer", plain.url()}, {"jwks_uri", "http://idp.example/keys"}}.dump());
  o.discovery_url = plain.url() + "/.well-known/openid-configuration";
  o.issuer = plain.url();
  source = server::JwksUrl::start(o, net::HttpClient::shared());
  EXPECT_NE(source->unavailable_reason().find("must use https"), std::string::npos)
      << source->unavailable_reason();

  plain.discovery(R"({"issuer": 5, "jwks_uri": ["x"]})");
  o.issuer.clear();
  source = server::JwksUrl::start(o, net::HttpClient::shared());
  EXPECT_NE(source->unavailable_reason().find("no \"jwks_uri\""), std::string::npos)
      << source->unavailable_reason();
}

TEST(JwksUrl, AKeyRotatedAtTheIssuerIsPickedUpByItsKid) {
  FakeIssuer issuer;
  TestKeyPair old_key = rsa_key("k1");
  issuer.serve({old_key.jwk});
  JwtOptions o;
  o.jwks_url = issuer.url() + "/keys";
  auto v = server::JwtVerifier::create(o);
  ASSERT_TRUE(v.ok()) << v.error().to_string();
  const std::string old_token = sign(JWT_ALG_RS256, old_key.private_pem, claims("a", {"r"}), "k1");
  EXPECT_EQ(verdict(**v, old_token), "<accepted>");

  TestKeyPair new_key = rsa_key("k2");
  issuer.serve({new_key.jwk});
  // The refresher runs every 300 s; the unknown kid asks for an early fetch, allowed once 10 s have
  // passed since the last one. Wait that out rather than shortening it, so the default is what is tested.
  std::this_thread::sleep_for(std::chrono::milliseconds(10'200));
  const std::string new_token = sign(JWT_ALG_RS256, new_key.private_pem, claims("a", {"r"}), "k2");
  EXPECT_EQ(verdict(**v, new_token), "<accepted>");
  EXPECT_EQ(issuer.key_hits.load(), 2);
  EXPECT_NE(verdict(**v, old_token).find("no RS256 key"), std::string::npos);  // gone at the issuer: refused
}

TEST(JwksUrl, MadeUpKidsCannotTurnIntoAStreamOfFetches) {
  FakeIssuer issuer;
  TestKeyPair rsa = rsa_key("k1");
  issuer.serve({rsa.jwk});
  auto source = server::JwksUrl::start(url_options(issuer), net::HttpClient::shared());
  ASSERT_EQ(source->keys()->size(), 1u);
  for (int i = 0; i < 200; ++i) source->keys("forged-" + std::to_string(i));
  EXPECT_EQ(issuer.key_hits.load(), 1);
  EXPECT_EQ(source->fetch_attempts(), 1u);
}

TEST(JwksUrl, AFailingOrHostileIssuerKeepsTheLastGoodKeys) {
  FakeIssuer issuer;
  TestKeyPair rsa = rsa_key("k1");
  issuer.serve({rsa.jwk});
  auto o = url_options(issuer);
  o.min_refetch = std::chrono::seconds(0);  // every unknown kid fetches: each answer below is read
  auto source = server::JwksUrl::start(o, net::HttpClient::shared());
  ASSERT_EQ(source->keys()->size(), 1u);
  const std::vector<std::pair<std::string, int>> answers = {
      {"{not json", 200},
      {R"({"keys": 7})", 200},
      {json{{"keys", {{{"kty", "RSA"}, {"kid", "short"}, {"n", "AQAB"}, {"e", "AQAB"}}}}}.dump(), 200},
      {R"({"keys":[]})", 500},
      {std::string(2u << 20, ' '), 200},  // over the 1 MiB cap
  };
  for (const auto& [body, status] : answers) {
    issuer.serve_raw(body, status);
    auto keys = source->keys("unknown");
    ASSERT_EQ(keys->size(), 1u) << "answer " << status << " " << body.substr(0, 40);
    EXPECT_EQ((*keys)[0].kid, "k1");
  }
  EXPECT_EQ(issuer.key_hits.load(), 1 + static_cast<int>(answers.size()));
}

TEST(JwksUrl, TokensAreRefusedWithTheReasonWhileTheIssuerIsDown) {
  TestKeyPair rsa = rsa_key("k1");
  const std::string url = "http://127.0.0.1:" + std::to_string(closed_port());
  JwtOptions o;
  o.jwks_url = url + "/keys";
  auto v = server::JwtVerifier::create(o);
  ASSERT_TRUE(v.ok());
  const std::string token = sign(JWT_ALG_RS256, rsa.private_pem, claims("a", {"r"}), "k1");
  const std::string why = verdict(**v, token);
  EXPECT_NE(why.find("could not be fetched"), std::string::npos) << why;
}

TEST(JwksUrl, KeyUrlsMustBeHttpsOrLoopback) {
  EXPECT_TRUE(server::check_key_url("https://idp.example/keys", "x").ok());
  EXPECT_TRUE(server::check_key_url("http://127.0.0.1:9/keys", "x").ok());
  EXPECT_TRUE(server::check_key_url("http://localhost/keys", "x").ok());
  EXPECT_TRUE(server::check_key_url("http://[::1]:8/keys", "x").ok());
  for (const char* bad : {"http://idp.example/keys", "http://127.0.0.1.evil.example/keys", "ftp://idp/keys",
                          "file:///etc/passwd", "https:///keys", "http://user@idp.example/keys"}) {
    auto r = server::check_key_url(bad, "[server.auth.jwt] jwks_url");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::config_invalid);
    EXPECT_NE(r.error().message().find("jwks_url"), std::string::npos);
  }
}

}  // namespace
}  // namespace xervo::testing
