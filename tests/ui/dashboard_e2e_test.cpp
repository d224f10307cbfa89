// End to end: the dashboard in a real browser. `xervo serve --demo` (generated demo models, a model
// library in a fresh XERVO_HOME whose Hub is the library tests' FakeHub on 127.0.0.1) serves the
// page built into the binary; dashboard_e2e.cjs drives Debian's headless chromium with
// playwright-core through the operator's tasks and saves screenshots under
// <build>/test-artifacts/dashboard/.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gguf_writer.h"
#include "hub_server.h"
#include "process.h"
#include "test_models.h"

namespace xervo::testing {
namespace {

constexpr const char* kAdminKey = "xk-dashboard-admin-key";
constexpr const char* kInferenceKey = "xk-dashboard-inference-key";

std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("xervo-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class DashboardE2E : public ::testing::Test {
 protected:
  FakeHub hub;
  std::filesystem::path home;

  void SetUp() override {
    home = fresh_dir("dashboard-" +
                     std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    // A Hub model of about 2 MB, sent slowly enough that the page sees the pull in progress.
    write_test_gguf(home / "tiny.gguf", {.name = "tiny", .seed = 7, .elements = 500000});
    hub.add_file("TheOrg/Tiny-GGUF", "tiny.Q4_K_M.gguf", file_bytes(home / "tiny.gguf"));
    std::filesystem::remove(home / "tiny.gguf");
    hub.blob_delay_ms = 4;
  }
  void TearDown() override { std::filesystem::remove_all(home); }

  // Serves the demo on `config` text and runs the browser script's `scenario` against it.
  void run(const std::string& scenario, const std::string& config) {
    std::ofstream(home / "xervo.toml") << "[library]\nhub_endpoint = \"" << hub.endpoint() << "\"\n"
                                       << "[server]\nshutdown_grace_s = 5\n"
                                       << config;
    ChildProcess server({"env", "XERVO_HOME=" + home.string(),
                         "XERVO_CONFIG=" + (home / "xervo.toml").string(), "XERVO_REAL_MODELS=0",
                         XERVO_BINARY, "serve", "--demo", "--port", "0"});
    auto port = server.wait_for_listening_port(std::chrono::seconds(120));
    ASSERT_TRUE(port) << server.log();
    ASSERT_TRUE(wait_healthy(server, *port, std::chrono::steady_clock::now() + std::chrono::seconds(60)))
        << server.log();
    std::filesystem::create_directories(XERVO_SCREENSHOT_DIR);
    auto result = run_command(
        {"env", "NODE_PATH=" XERVO_UI_NODE_MODULES, "CHROMIUM=" XERVO_CHROMIUM,
         std::string("XERVO_ADMIN_KEY=") + kAdminKey, std::string("XERVO_INFERENCE_KEY=") + kInferenceKey,
         XERVO_NODE, XERVO_DASHBOARD_SCRIPT, "http://127.0.0.1:" + std::to_string(*port), scenario,
         XERVO_SCREENSHOT_DIR, (home / "browser").string()},
        std::chrono::seconds(560));
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err << "\n--- server log ---\n" << server.log();
    EXPECT_NE(result.out.find("ok: " + scenario), std::string::npos) << result.out << result.err;
    EXPECT_EQ(server.stop(std::chrono::seconds(20)), 0) << server.log();
  }
};

TEST_F(DashboardE2E, OperatorLoadsUnloadsChatsAndPullsWithProgress) { run("operator", ""); }

TEST_F(DashboardE2E, WrongKeyIsRefusedAndAnInferenceKeySeesNoAdminActions) {
  run("auth", std::string("[server.auth]\nkeys = [\n") + "  { name = \"ops\", sha256 = \"" +
                  FakeHub::sha256_hex(kAdminKey) + "\", scopes = [\"admin\"] },\n" +
                  "  { name = \"app\", sha256 = \"" + FakeHub::sha256_hex(kInferenceKey) +
                  "\", scopes = [\"inference\"] },\n]\n");
}

}  // namespace
}  // namespace xervo::testing
