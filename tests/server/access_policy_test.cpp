// Roles, scopes and model globs; CIDR ranges of both families; the client behind X-Forwarded-For,
// believed only from trusted proxies.
#include <gtest/gtest.h>

#include "server/access_policy.h"
#include "server/ip_filter.h"
#include "xervo/server.h"

namespace xervo::server {
namespace {

TEST(ModelGlob, StarSpansSlashesQuestionMarkIsOneCharacter) {
  EXPECT_TRUE(glob_match("embed/*", "embed/fast"));
  EXPECT_TRUE(glob_match("embed/*", "embed/a/b"));
  EXPECT_FALSE(glob_match("embed/*", "chat/default"));
  EXPECT_FALSE(glob_match("embed/*", "embed"));
  EXPECT_TRUE(glob_match("chat/default", "chat/default"));
  EXPECT_FALSE(glob_match("chat/default", "chat/default2"));
  EXPECT_TRUE(glob_match("*/v?", "chat/v2"));
  EXPECT_TRUE(glob_match("library:*", "library:org/model"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_FALSE(glob_match(std::string(50, '*') + "x", std::string(5000, 'a')));  // linear, not exponential
}

TEST(Scopes, TodaysScopesKeepTheirMeaningAndNewOnesAreNarrow) {
  EXPECT_TRUE(scope_allows(Scope::admin, Scope::library));
  EXPECT_TRUE(scope_allows(Scope::inference, Scope::batch));    // as before batch existed
  EXPECT_TRUE(scope_allows(Scope::inference, Scope::metrics));  // as before metrics existed
  EXPECT_FALSE(scope_allows(Scope::inference, Scope::admin));
  EXPECT_FALSE(scope_allows(Scope::inference, Scope::library));
  EXPECT_FALSE(scope_allows(Scope::metrics, Scope::inference));
  EXPECT_FALSE(scope_allows(Scope::batch, Scope::inference));
  EXPECT_FALSE(parse_scope("root"));
}

ApiKey key_with_roles(std::vector<std::string> roles) {
  ApiKey k;
  k.name = "k";
  k.sha256 = std::string(64, 'a');
  k.roles = std::move(roles);
  return k;
}

TEST(Principals, RolesGiveScopesAndModelsAndApplyOnlyFromTheirAddresses) {
  AccessRole embed{"embedder", {"inference"}, std::vector<std::string>{"embed/*"}, {}};
  AccessRole office{"office-admin", {"admin"}, std::nullopt, {"10.0.0.0/8", "2001:db8::/32"}};
  auto roles = compile_roles({embed, office});
  ASSERT_TRUE(roles.ok()) << roles.error().to_string();

  auto from_office =
      key_principal(key_with_roles({"embedder", "office-admin"}), *roles, parse_ip("10.1.2.3"));
  ASSERT_TRUE(from_office.ok());
  EXPECT_TRUE((*from_office)->has(Scope::admin));
  EXPECT_TRUE((*from_office)->may_use_model("chat/default"));  // the admin role has no model list

  auto from_home = key_principal(key_with_roles({"embedder", "office-admin"}), *roles, parse_ip("192.0.2.7"));
  ASSERT_TRUE(from_home.ok());
  EXPECT_FALSE((*from_home)->has(Scope::admin));
  EXPECT_TRUE((*from_home)->may_use_model("embed/fast"));
  EXPECT_FALSE((*from_home)->may_use_model("chat/default"));
  EXPECT_EQ((*from_home)->models_text(), "embed/*");

  auto v6 = key_principal(key_with_roles({"office-admin"}), *roles, parse_ip("2001:db8::42"));
  ASSERT_TRUE(v6.ok());
  auto outside = key_principal(key_with_roles({"office-admin"}), *roles, parse_ip("2001:db9::1"));
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().code(), ErrorCode::forbidden);
}

TEST(Principals, AKeysOwnAllowIpsGateTheWholeKey) {
  ApiKey k;
  k.name = "ci";
  k.sha256 = std::string(64, 'b');
  k.scopes = {"inference"};
  k.allow_ips = {"127.0.0.1", "::1"};
  auto roles = compile_roles({});
  ASSERT_TRUE(roles.ok());
  EXPECT_TRUE(key_principal(k, *roles, parse_ip("127.0.0.1")).ok());
  EXPECT_TRUE(key_principal(k, *roles, parse_ip("::1")).ok());
  auto refused = key_principal(k, *roles, parse_ip("127.0.0.2"));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("127.0.0.2"), std::string::npos);
}

TEST(Principals, ConfigErrorsNameTheRoleOrKey) {
  EXPECT_FALSE(compile_roles({AccessRole{"r", {"root"}, std::nullopt, {}}}).ok());
  EXPECT_FALSE(compile_roles({AccessRole{"r", {"admin"}, std::nullopt, {"10.0.0.0/33"}}}).ok());
  auto roles = compile_roles({AccessRole{"r", {"admin"}, std::nullopt, {}}});
  ASSERT_TRUE(roles.ok());
  auto unknown = validate_key(key_with_roles({"nope"}), *roles, "[server.auth]");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message().find("nope"), std::string::npos);
  EXPECT_TRUE(validate_key(key_with_roles({"r"}), *roles, "[server.auth]").ok());
}

TEST(IpFilter, CidrsOfBothFamiliesAndMappedAddresses) {
  auto v4 = parse_cidr("10.0.0.0/8", "t");
  ASSERT_TRUE(v4.ok());
  EXPECT_TRUE(contains(*v4, *parse_ip("10.255.0.1")));
  EXPECT_TRUE(contains(*v4, *parse_ip("::ffff:10.0.0.9")));  // a dual-stack socket's form
  EXPECT_FALSE(contains(*v4, *parse_ip("11.0.0.1")));
  auto v6 = parse_cidr("2001:db8::/32", "t");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(contains(*v6, *parse_ip("[2001:db8:1::1]:443")));
  EXPECT_FALSE(contains(*v6, *parse_ip("2001:db9::1")));
  auto host = parse_cidr("192.0.2.1", "t");
  ASSERT_TRUE(host.ok());
  EXPECT_TRUE(contains(*host, *parse_ip("192.0.2.1:8080")));
  EXPECT_FALSE(contains(*host, *parse_ip("192.0.2.2")));
  for (const char* bad : {"10.0.0.0/40", "::/129", "banana", "10.0.0.0/", "1.2.3.4/x"})
    EXPECT_FALSE(parse_cidr(bad, "t").ok()) << bad;
}

TEST(IpFilter, ForwardedForIsBelievedOnlyFromTrustedProxies) {
  auto proxies = parse_cidrs({"127.0.0.1", "10.0.0.0/8"}, "t");
  ASSERT_TRUE(proxies.ok());
  // An untrusted peer's header is ignored: the peer is the client.
  EXPECT_EQ(to_string(*client_address("203.0.113.9", "10.1.1.1", *proxies)), "203.0.113.9");
  // A trusted proxy's: the right-most address that is not a proxy.
  EXPECT_EQ(to_string(*client_address("127.0.0.1", "198.51.100.4", *proxies)), "198.51.100.4");
  EXPECT_EQ(to_string(*client_address("127.0.0.1", "6.6.6.6, 198.51.100.4, 10.0.0.2", *proxies)),
            "198.51.100.4");
  // A forged left part ("6.6.6.6") is never taken while an untrusted hop stands to its right.
  EXPECT_EQ(to_string(*client_address("127.0.0.1", "10.9.9.9, 198.51.100.4", *proxies)), "198.51.100.4");
  // Garbage from a trusted proxy stops the walk at that proxy.
  EXPECT_EQ(to_string(*client_address("127.0.0.1", "not-an-ip", *proxies)), "127.0.0.1");
  // No trusted proxies: never read.
  EXPECT_EQ(to_string(*client_address("127.0.0.1", "198.51.100.4", {})), "127.0.0.1");
  EXPECT_FALSE(client_address("batch", "", *proxies));
}

}  // namespace
}  // namespace xervo::server
