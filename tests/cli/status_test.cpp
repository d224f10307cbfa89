// `xervo status` checks the providers somebody configured and touches no network for the others:
// the remote base URLs point at a local server that counts every request it gets.
#include <gtest/gtest.h>

#include "cli_runner.h"
#include "net/local_server.h"

namespace xervo::cli_test {
namespace {

// Answers any GET (the providers' health checks list models) and counts it.
struct CountingApi {
  testing::LocalServer server;
  CountingApi() {
    server.http().Get(".*", [this](const httplib::Request&, httplib::Response& res) {
      ++server.requests;
      res.set_content(R"({"object":"list","data":[],"models":[]})", "application/json");
    });
    server.start();
  }
  // The remote providers' defaults all lead here, keys included, so a check would be answered.
  std::vector<std::string> env(const TempHome& home) const {
    return {"-u",
            "XERVO_CONFIG",
            "XERVO_HOME=" + home.path.string(),
            "OPENAI_BASE_URL=" + server.url("/v1"),
            "OPENAI_API_KEY=sk-test",
            "GEMINI_BASE_URL=" + server.url("/v1beta"),
            "GEMINI_API_KEY=test-key"};
  }
};

std::string line_of(const std::string& out, const std::string& start) {
  for (const auto& line : lines_of(out))
    if (line.rfind(start, 0) == 0) return line;
  return "";
}

TEST(CliStatus, WithoutConfigNoRemoteProviderIsContacted) {
  CountingApi api;
  TempHome home("status-none");
  auto r = xervo_env(api.env(home), {"status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(api.server.requests.load(), 0) << r.out;
  EXPECT_NE(line_of(r.out, "  openai").find("not configured"), std::string::npos) << r.out;
  EXPECT_NE(line_of(r.out, "  gemini").find("not configured"), std::string::npos) << r.out;
  // The local provider needs no config and no network: it is always checked.
  EXPECT_NE(line_of(r.out, "  llamacpp").find("ok"), std::string::npos) << r.out;
}

TEST(CliStatus, AProviderTableOrAnAliasMakesItChecked) {
  CountingApi api;
  TempHome home("status-some");
  TempConfig table("[providers.openai]\nbase_url = \"" + api.server.url("/v1") + "\"\n");
  auto r = xervo_env(api.env(home), {"--config", table.path.string(), "status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(api.server.requests.load(), 1) << r.out;  // openai's health check, and nothing for gemini
  EXPECT_NE(line_of(r.out, "  openai").find("ok"), std::string::npos) << r.out;
  EXPECT_NE(line_of(r.out, "  gemini").find("not configured"), std::string::npos) << r.out;

  TempConfig alias("[models.\"chat/g\"]\ntask = \"generate\"\nprovider = \"gemini\"\nmodel = \"gemini-x\"\n");
  auto g = xervo_env(api.env(home), {"--config", alias.path.string(), "status"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  EXPECT_EQ(api.server.requests.load(), 2) << g.out;  // gemini's, now that an alias uses it
  EXPECT_NE(line_of(g.out, "  gemini").find("ok"), std::string::npos) << g.out;
  EXPECT_NE(line_of(g.out, "  openai").find("not configured"), std::string::npos) << g.out;
}

}  // namespace
}  // namespace xervo::cli_test
