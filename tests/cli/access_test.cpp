// Access control end to end: the real `xervo serve` with a role that allows only embed/*, keys made
// and revoked with `xervo keys` while it runs (no restart), and `xervo audit verify` on the log the
// server and the CLI wrote, before and after a byte of it is changed.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "process.h"

namespace xervo::cli_test {
namespace {

using nlohmann::json;

TEST(CliAccess, EmbedOnlyKeyFromTheCliIs403OnChatAndRevocationNeedsNoRestart) {
  TempHome home("access");
  const std::string toml =
      "[models.\"embed/a\"]\ntask = \"embed\"\nprovider = \"llamacpp\"\nmodel = \"" +
      testing::test_model("embedder").string() +
      "\"\n\n[models.\"chat/default\"]\ntask = \"generate\"\nprovider = \"llamacpp\"\nmodel = \"" +
      testing::test_model("generator").string() +
      "\"\n\n[server.auth.roles.embedder]\nscopes = [\"inference\"]\nmodels = [\"embed/*\"]\n";
  TempConfig config(toml);
  const std::vector<std::string> env = {"-u", "XERVO_URL", "XERVO_HOME=" + home.path.string()};
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", config.path.string()});
    return xervo_env(env, args);
  };
  // A key before the server starts, one while it runs.
  auto made = cli({"keys", "create", "search", "--role", "embedder"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string key = lines_of(made.out).at(0);
  ASSERT_TRUE(key.starts_with("xk-")) << made.out;
  auto bad_role = cli({"keys", "create", "x", "--role", "nope"});
  EXPECT_EQ(bad_role.exit_code, 1);
  EXPECT_NE(bad_role.err.find("nope"), std::string::npos) << bad_role.err;

  testing::ChildProcess server({"env", "-u", "XERVO_URL", "XERVO_HOME=" + home.path.string(), XERVO_BIN,
                                "--config", config.path.string(), "serve", "--port", "0"});
  auto port = server.wait_for_listening_port();
  ASSERT_TRUE(port) << server.log();
  httplib::Client c("127.0.0.1", *port);
  c.set_read_timeout(120, 0);
  const httplib::Headers auth = {{"Authorization", "Bearer " + key}};
  auto chat =
      c.Post("/v1/chat/completions", auth,
             json{{"model", "chat/default"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}.dump(),
             "application/json");
  ASSERT_TRUE(chat) << server.log();
  EXPECT_EQ(chat->status, 403) << chat->body;
  EXPECT_NE(chat->body.find("chat/default"), std::string::npos) << chat->body;
  auto models = c.Get("/v1/models", auth);
  ASSERT_TRUE(models && models->status == 200);
  auto listed = json::parse(models->body)["data"];
  ASSERT_EQ(listed.size(), 1u) << models->body;
  EXPECT_EQ(listed[0]["id"], "embed/a");
  EXPECT_EQ(c.Get("/v1/models")->status, 401);  // the keys file exists: authentication is on

  auto ops = cli({"keys", "create", "ops", "--scope", "admin"});
  ASSERT_EQ(ops.exit_code, 0) << ops.err;
  const httplib::Headers admin = {{"Authorization", "Bearer " + lines_of(ops.out).at(0)}};
  EXPECT_EQ(c.Get("/v1/runtime/models", admin)->status, 200);
  EXPECT_EQ(c.Get("/v1/runtime/models", auth)->status, 403);
  auto listing = cli({"keys", "list"});
  EXPECT_NE(listing.out.find("search"), std::string::npos) << listing.out;
  EXPECT_EQ(listing.out.find(key), std::string::npos);  // never the key itself
  ASSERT_EQ(cli({"keys", "revoke", "search"}).exit_code, 0);
  EXPECT_EQ(c.Get("/v1/models", auth)->status, 401);
  server.stop();

  auto verified = cli({"audit", "verify"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_NE(verified.out.find("ok: "), std::string::npos) << verified.out;
  const auto log_path = home.path / "audit.log";
  std::ifstream in(log_path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"key_created\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"key_revoked\""), std::string::npos);
  EXPECT_NE(text.find("\"model_refused\""), std::string::npos);
  EXPECT_NE(text.find("\"access_denied\""), std::string::npos);
  EXPECT_EQ(text.find(key), std::string::npos);
  text[text.find("search")] = 'S';
  std::ofstream(log_path, std::ios::binary) << text;
  auto tampered = cli({"audit", "verify"});
  EXPECT_EQ(tampered.exit_code, 1) << tampered.out;
  EXPECT_NE(tampered.out.find("prev hash does not match"), std::string::npos) << tampered.out;
}

}  // namespace
}  // namespace xervo::cli_test
