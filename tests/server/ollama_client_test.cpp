// End to end with the real binary: the official `ollama` npm client, unchanged, against
// `xervo serve` on generated tiny models with an API key configured (ollama_client.cjs); the server
// stops on SIGTERM with a clean exit.
#include <gtest/gtest.h>
#include <httplib.h>

#include <csignal>
#include <fstream>
#include <thread>

#include "process.h"
#include "test_models.h"
#include "xervo/server.h"

namespace xervo::testing {
namespace {

bool wait_healthy(int port, ChildProcess& process) {
  for (int i = 0; i < 600; ++i) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1, 0);
    if (auto r = c.Get("/health"); r && r->status == 200) return true;
    if (!process.running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST(OllamaClient, OfficialNodeClientTalksToXervoServe) {
  auto embedder = test_model("embedder");
  auto generator = test_model("generator");
  auto dir = std::filesystem::temp_directory_path() / ("xervo-server-ollama-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    std::ofstream cfg(dir / "xervo.toml");
    cfg << "[models.\"embed/tiny\"]\ntask = \"embed\"\nprovider = \"llamacpp\"\nmodel = \""
        << embedder.string() << "\"\n"
        << "[models.\"chat/tiny\"]\ntask = \"generate\"\nprovider = \"llamacpp\"\nmodel = \""
        << generator.string() << "\"\n"
        << "[library]\nhome = \"" << (dir / "home").string() << "\"\n"
        << "[server]\nshutdown_grace_s = 10\n"
        << "[server.auth]\nkeys = [{ name = \"node\", sha256 = \"" << sha256_hex("ollama-test-key")
        << "\", scopes = [\"inference\"] }]\n";
  }
  ChildProcess server({XERVO_BINARY, "--config", (dir / "xervo.toml").string(), "serve", "--port", "0"});
  auto bound = server.wait_for_listening_port();
  ASSERT_TRUE(bound.has_value()) << server.log();
  const int port = *bound;
  ASSERT_TRUE(wait_healthy(port, server)) << server.log();
  auto node = run_command({"env", "NODE_PATH=" XERVO_NODE_MODULES, "XERVO_TEST_KEY=ollama-test-key",
                           XERVO_NODE, XERVO_OLLAMA_SCRIPT, "http://127.0.0.1:" + std::to_string(port)},
                          std::chrono::seconds(240));
  EXPECT_EQ(node.exit_code, 0) << node.out << node.err << "\n--- server log ---\n" << server.log();
  EXPECT_NE(node.out.find("ok:"), std::string::npos) << node.out;
  server.signal(SIGTERM);
  auto code = server.wait(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value()) << "xervo serve did not exit after SIGTERM\n" << server.log();
  EXPECT_EQ(*code, 0) << server.log();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xervo::testing
