// The dashboard's routes on an in-process server: its page and files without authentication and
// with a strict Content-Security-Policy, the API still authenticated and scoped under them (no CORS
// opened), GET /v1/auth/whoami, GET /v1/runtime/requests, and the library's import and verify.
#include <gtest/gtest.h>

#include "server/dashboard_assets.h"
#include "server_fixture.h"
#include "xervo/server.h"
#if XERVO_HAVE_LIBRARY
#include "gguf_writer.h"
#include "library_fixture.h"
#endif

namespace xervo::testing {
namespace {

class DashboardRoutes : public ServerTest {
 protected:
  void with_keys() {
    options.keys = {{.name = "ops", .sha256 = sha256_hex("admin-key"), .scopes = {"admin"}},
                    {.name = "app", .sha256 = sha256_hex("app-key"), .scopes = {"inference"}},
                    {.name = "lib", .sha256 = sha256_hex("lib-key"), .scopes = {"library"}}};
  }
  static httplib::Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }
};

TEST_F(DashboardRoutes, PageIsServedWithoutAKeyUnderAStrictPolicy) {
  with_keys();
  start();
  auto page = get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  const std::string csp = page->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << csp;
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(page->get_header_value("Access-Control-Allow-Origin"), "");
  if (server::dashboard_assets().empty()) {
    EXPECT_NE(page->body.find("not built"), std::string::npos) << page->body;
    GTEST_SKIP() << "this build has no dashboard: " << server::dashboard_missing_reason();
  }
  EXPECT_NE(page->body.find("<div id=\"app\">"), std::string::npos);
  EXPECT_EQ(page->body.find("<script>"), std::string::npos) << "no inline script";
  // Every built file is served with its type; built names are immutable.
  for (const auto& asset : server::dashboard_assets()) {
    if (asset.path == "/index.html") continue;
    auto r = get(std::string(asset.path));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << asset.path;
    EXPECT_EQ(r->body.size(), asset.size) << asset.path;
    EXPECT_EQ(r->get_header_value("Content-Type"), asset.content_type) << asset.path;
    if (asset.path.starts_with("/assets/")) {
      EXPECT_NE(r->get_header_value("Cache-Control").find("immutable"), std::string::npos);
    }
  }
  auto missing = get("/assets/../../etc/passwd");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(DashboardRoutes, TheApiStaysAuthenticatedAndScoped) {
  with_keys();
  start();
  EXPECT_EQ(get("/v1/runtime/models")->status, 401);
  EXPECT_EQ(get("/v1/runtime/models", bearer("app-key"))->status, 403);
  EXPECT_EQ(get("/v1/runtime/models", bearer("admin-key"))->status, 200);
  EXPECT_EQ(get("/v1/runtime/requests", bearer("app-key"))->status, 403);
  EXPECT_EQ(get("/v1/runtime/events", bearer("app-key"))->status, 403);
  // A path under /assets/ is a file or 404, never an API route without a key.
  EXPECT_EQ(get("/assets/v1/runtime/models")->status, 404);
}

TEST_F(DashboardRoutes, WhoamiNamesTheKeyAndItsScopes) {
  with_keys();
  start();
  auto none = get("/v1/auth/whoami");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(get("/v1/auth/whoami", bearer("wrong"))->status, 401);
  auto app = nlohmann::json::parse(get("/v1/auth/whoami", bearer("app-key"))->body);
  EXPECT_EQ(app["auth"], true);
  EXPECT_EQ(app["kind"], "key");
  EXPECT_EQ(app["name"], "app");
  EXPECT_EQ(app["scopes"], nlohmann::json({"inference", "batch", "metrics"}));
  auto lib = nlohmann::json::parse(get("/v1/auth/whoami", bearer("lib-key"))->body);
  EXPECT_EQ(lib["scopes"], nlohmann::json({"library"}));
  auto ops = nlohmann::json::parse(get("/v1/auth/whoami", bearer("admin-key"))->body);
  EXPECT_EQ(ops["scopes"], nlohmann::json({"inference", "batch", "metrics", "library", "admin"}));
}

TEST_F(DashboardRoutes, WhoamiWithoutAuthenticationGivesEveryScope) {
  start();
  auto j = nlohmann::json::parse(get("/v1/auth/whoami")->body);
  EXPECT_EQ(j["auth"], false);
  EXPECT_EQ(j["scopes"].size(), 5u);
}

TEST_F(DashboardRoutes, RecentRequestsListsCallsNewestFirstWithoutTheDashboardsOwnReads) {
  start();
  ASSERT_EQ(post("/v1/embeddings", {{"model", "embed/test"}, {"input", "hello"}})->status, 200);
  ASSERT_EQ(get("/v1/models")->status, 200);
  ASSERT_EQ(get("/metrics")->status, 200);
  ASSERT_EQ(get("/")->status, 200);
  ASSERT_EQ(get("/no/such/route%0A")->status, 404);
  auto r = get("/v1/runtime/requests?limit=10");
  ASSERT_EQ(r->status, 200) << r->body;
  auto data = nlohmann::json::parse(r->body)["data"];
  ASSERT_EQ(data.size(), 3u) << data.dump();
  EXPECT_EQ(data[0]["status"], 404);
  EXPECT_EQ(data[0]["path"], "/no/such/route\\n");  // escaped as the access log escapes it
  EXPECT_EQ(data[1]["route"], "/v1/models");
  EXPECT_EQ(data[2]["route"], "/v1/embeddings");
  EXPECT_EQ(data[2]["model"], "embed/test");
  EXPECT_EQ(data[2]["method"], "POST");
  EXPECT_GT(data[2]["tokens_in"].get<int64_t>(), 0);
  EXPECT_EQ(get("/v1/runtime/requests?limit=0")->status, 400);
  EXPECT_EQ(get("/v1/runtime/requests?limit=abc")->status, 400);
}

TEST_F(DashboardRoutes, RecentRequestsKeepsOnlyTheLastTwoHundred) {
  start();
  for (int i = 0; i < 230; ++i) ASSERT_EQ(get("/v1/models")->status, 200);
  auto data = nlohmann::json::parse(get("/v1/runtime/requests")->body)["data"];
  EXPECT_EQ(data.size(), 200u);
}

#if XERVO_HAVE_LIBRARY
class DashboardLibrary : public DashboardRoutes {
 protected:
  TempDir home;
  TempDir outside;
  void SetUp() override {
    options.library = open_test_library(home.path);
    ASSERT_TRUE(options.library);
  }
};

TEST_F(DashboardLibrary, ImportsServerFilesThenVerifies) {
  write_test_gguf(outside.path / "m.gguf", {.name = "imported", .seed = 11});
  start();
  auto r = post("/v1/library/import",
                {{"paths", {(outside.path / "m.gguf").string()}}, {"mode", "copy"}, {"tags", {"ui"}}});
  ASSERT_EQ(r->status, 200) << r->body;
  auto item = nlohmann::json::parse(r->body)["data"][0];
  ASSERT_TRUE(item.contains("model")) << item.dump();
  const std::string id = item["model"]["id"];
  EXPECT_EQ(item["model"]["tags"], nlohmann::json({"ui"}));
  EXPECT_TRUE(std::filesystem::exists(outside.path / "m.gguf")) << "the source stays where it was";
  auto v = post("/v1/library/verify", {{"id", id}});
  ASSERT_EQ(v->status, 200) << v->body;
  auto outcome = nlohmann::json::parse(v->body)["data"][0];
  EXPECT_EQ(outcome["ok"], true) << outcome.dump();
  EXPECT_EQ(post("/v1/library/verify", {{"id", "nobody/none"}})->status, 404);
  // A missing file is an outcome with its error; the batch answers.
  auto gone = post("/v1/library/import", {{"paths", {(outside.path / "none.gguf").string()}}});
  ASSERT_EQ(gone->status, 200) << gone->body;
  EXPECT_TRUE(nlohmann::json::parse(gone->body)["data"][0].contains("error"));
}

TEST_F(DashboardLibrary, ImportRefusesHostileRequests) {
  start();
  for (const auto& body :
       {nlohmann::json{{"paths", nlohmann::json::array()}}, nlohmann::json{{"paths", {"relative/m.gguf"}}},
        nlohmann::json{{"paths", {std::string("/tmp/a\nb.gguf")}}},
        nlohmann::json{{"paths", {"/tmp/m.gguf"}}, {"mode", "move"}}, nlohmann::json{{"paths", {42}}},
        nlohmann::json{{"paths", std::vector<std::string>(17, "/tmp/m.gguf")}},
        nlohmann::json{{"paths", {"/tmp/m.gguf"}}, {"tags", {""}}}}) {
    auto r = post("/v1/library/import", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body.dump() << " -> " << r->body;
  }
}

TEST_F(DashboardLibrary, ImportAndVerifyNeedTheLibraryScope) {
  with_keys();
  start();
  EXPECT_EQ(post("/v1/library/verify", {{"id", "a/b"}}, bearer("app-key"))->status, 403);
  EXPECT_EQ(post("/v1/library/import", {{"paths", {"/tmp/x.gguf"}}}, bearer("app-key"))->status, 403);
  EXPECT_EQ(post("/v1/library/verify", {{"id", "a/b"}}, bearer("lib-key"))->status, 404);
}
#endif

}  // namespace
}  // namespace xervo::testing
