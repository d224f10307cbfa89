// `xervo ps` and `xervo models pin|unpin|swap|rollback` against a real `xervo serve` (port 0) on
// the tiny generated embedder; `xervo ps` on the local runtime; SIGHUP reloading the config.
#include <gtest/gtest.h>
#include <httplib.h>

#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_runner.h"
#include "process.h"

namespace xervo::cli_test {
namespace {

using nlohmann::json;

std::string alias_toml(const std::string& alias, const std::filesystem::path& model) {
  return "[models.\"" + alias + "\"]\ntask = \"embed\"\nprovider = \"llamacpp\"\nmodel = \"" +
         model.string() + "\"\n\n";
}

// A `xervo serve --port 0` over `toml` (rewritable: config.path), stopped by the destructor.
struct Served {
  TempHome home;
  TempConfig config;
  std::unique_ptr<testing::ChildProcess> server;
  int port = 0;

  Served(const std::string& name, const std::string& toml) : home(name), config(toml) {
    server = std::make_unique<testing::ChildProcess>(std::vector<std::string>{
        "env", "-u", "XERVO_URL", "XERVO_HOME=" + home.path.string(), "XERVO_LOG=info", XERVO_BIN, "--config",
        config.path.string(), "serve", "--port", "0"});
    auto p = server->wait_for_listening_port();
    if (!p) throw std::runtime_error("xervo serve did not start:\n" + server->log());
    port = *p;
  }
  ~Served() { server->stop(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
  testing::CommandResult cli(std::vector<std::string> args, std::vector<std::string> env = {}) const {
    args.push_back("--url");
    args.push_back(url());
    // env(1) takes its -u options before any NAME=VALUE.
    env.insert(env.begin(), {"-u", "XERVO_API_KEY", "XERVO_HOME=" + home.path.string()});
    return xervo_env(env, args);
  }
  json runtime_models() const {
    auto r = cli({"ps", "--json"});
    if (r.exit_code != 0) return json::object();
    return json::parse(r.out);
  }
  void load(const std::string& alias, const httplib::Headers& headers = {}) const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(120, 0);
    auto r = c.Post("/v1/runtime/models/load", headers, json{{"model", alias}}.dump(), "application/json");
    ASSERT_TRUE(r) << server->log();
    ASSERT_EQ(r->status, 200) << r->body;
  }
};

std::string line_of(const std::string& out, const std::string& start) {
  for (const auto& line : lines_of(out))
    if (line.rfind(start, 0) == 0) return line;
  return "";
}

std::string alias_model(const json& status, const std::string& alias) {
  for (const auto& a : status.value("aliases", json::array()))
    if (a["alias"] == alias) return a["model"];
  return "";
}

// The sha256 `xervo serve hash-key KEY` prints for [server.auth].
std::string key_hash(const std::string& key) {
  auto r = xervo({"serve", "hash-key", key});
  auto line = line_of(r.out, "sha256 = \"");
  return line.size() > 12 ? line.substr(10, 64) : "";
}

// Polls `cond` (what a signal's effect shows) for up to 60 s.
template <typename F>
bool eventually(F cond) {
  for (int i = 0; i < 600; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return cond();
}

TEST(CliLifecycle, PsShowsLoadedModelsAndModelsPinSwapRollbackChangeThem) {
  const auto model_a = testing::test_model("embedder");
  const auto model_b = testing::test_model("embedder", "tiny", "--type q8_0");
  Served s("lifecycle", alias_toml("embed/a", model_a) + alias_toml("embed/b", model_b));
  s.load("embed/a");

  auto ps = s.cli({"ps"});
  ASSERT_EQ(ps.exit_code, 0) << ps.err;
  std::string row = line_of(ps.out, "embed/a");
  ASSERT_FALSE(row.empty()) << ps.out;
  EXPECT_NE(row.find("embed"), std::string::npos) << row;
  EXPECT_NE(row.find("loaded"), std::string::npos) << row;
  EXPECT_NE(row.find("iB"), std::string::npos) << row;       // its memory
  EXPECT_NE(row.find("forever"), std::string::npos) << row;  // aliases stay until evicted by default
  EXPECT_EQ(line_of(ps.out, "embed/b"), "") << ps.out;       // never loaded: only with --all
  EXPECT_NE(ps.out.find("memory: "), std::string::npos) << ps.out;
  EXPECT_NE(line_of(s.cli({"ps", "--all"}).out, "embed/b").find("unloaded"), std::string::npos);

  auto pin = s.cli({"models", "pin", "embed/a"});
  ASSERT_EQ(pin.exit_code, 0) << pin.err;
  EXPECT_EQ(pin.out, "pinned embed/a\n");
  EXPECT_NE(line_of(s.cli({"ps"}).out, "embed/a").find("yes"), std::string::npos);
  ASSERT_EQ(s.cli({"models", "unpin", "embed/a"}).exit_code, 0);
  EXPECT_EQ(line_of(s.cli({"ps"}).out, "embed/a").find("yes"), std::string::npos);

  // embed/b's file is a configured model: a swap may name it without any allow_model_ids.
  auto swap = s.cli({"models", "swap", "embed/a", model_b.string()});
  ASSERT_EQ(swap.exit_code, 0) << swap.err;
  EXPECT_EQ(swap.out.rfind("swapped embed/a: ", 0), 0u) << swap.out;
  EXPECT_EQ(alias_model(s.runtime_models(), "embed/a"), model_b.string());
  auto back = s.cli({"models", "rollback", "embed/a"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(alias_model(s.runtime_models(), "embed/a"), model_a.string());

  auto refused = s.cli({"models", "swap", "embed/a", "/etc/passwd"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("alias_not_found"), std::string::npos) << refused.err;
  EXPECT_EQ(alias_model(s.runtime_models(), "embed/a"), model_a.string());
}

TEST(CliLifecycle, CommandsSendTheKeyFromTheEnvironment) {
  const std::string toml = alias_toml("embed/a", testing::test_model("embedder")) +
                           "[server.auth]\nkeys = [{ name = \"ops\", sha256 = \"" + key_hash("ops-key") +
                           "\", scopes = [\"admin\"] }, { name = \"app\", sha256 = \"" + key_hash("app-key") +
                           "\", scopes = [\"inference\"] }]\n";
  Served s("lifecycle-auth", toml);
  auto anonymous = s.cli({"ps"});
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_NE(anonymous.err.find("unauthorized"), std::string::npos) << anonymous.err;
  EXPECT_NE(anonymous.err.find("XERVO_API_KEY"), std::string::npos) << anonymous.err;
  auto inference = s.cli({"models", "pin", "embed/a"}, {"XERVO_API_KEY=app-key"});
  EXPECT_EQ(inference.exit_code, 1);
  EXPECT_NE(inference.err.find("forbidden"), std::string::npos) << inference.err;
  auto admin = s.cli({"models", "pin", "embed/a"}, {"XERVO_API_KEY=ops-key"});
  EXPECT_EQ(admin.exit_code, 0) << admin.err;
  auto other_variable = s.cli({"ps", "--api-key-env", "MY_KEY"}, {"MY_KEY=ops-key"});
  EXPECT_EQ(other_variable.exit_code, 0) << other_variable.err;
}

TEST(CliLifecycle, PsWithoutUrlShowsTheLocalRuntime) {
  TempHome home("ps-local");
  TempConfig config(alias_toml("embed/a", "/nonexistent/never-loaded.gguf") +
                    "[runtime]\nmemory_budget = \"1GiB\"\nmax_loaded = 3\n");
  auto r = xervo_env({"-u", "XERVO_URL", "XERVO_HOME=" + home.path.string()},
                     {"--config", config.path.string(), "ps", "--all"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(line_of(r.out, "embed/a").find("unloaded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1.0 GiB budget"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("at most 3"), std::string::npos) << r.out;
}

TEST(CliLifecycle, SighupReloadsTheConfigAndABrokenOneChangesNothing) {
  const auto model = testing::test_model("embedder");
  Served s("sighup", alias_toml("embed/a", model));
  std::ofstream(s.config.path) << alias_toml("embed/a", model) << alias_toml("embed/new", model);
  s.server->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return alias_model(s.runtime_models(), "embed/new") == model.string(); }))
      << s.server->log();

  std::ofstream(s.config.path) << "[models.\"embed/a\"\ntask = 1\n";
  s.server->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return s.server->log().find("config reload failed") != std::string::npos; }))
      << s.server->log();
  auto status = s.runtime_models();
  EXPECT_EQ(alias_model(status, "embed/new"), model.string()) << status.dump();
  EXPECT_EQ(alias_model(status, "embed/a"), model.string());
  EXPECT_TRUE(s.server->running());  // a SIGHUP never stops the server
  EXPECT_EQ(s.server->stop(), 0) << s.server->log();
}

}  // namespace
}  // namespace xervo::cli_test
