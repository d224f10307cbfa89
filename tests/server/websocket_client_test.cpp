// End to end: the npm `ws` client against the real `xervo serve` on a generated tiny llama, with an
// API key: auth by subprotocol and by header, two generations at once, cancel, errors, closing.
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

TEST(WebSocketClient, NodeWsClientTalksToXervoServe) {
  auto generator = test_model("generator");
  auto dir = std::filesystem::temp_directory_path() / ("xervo-server-ws-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    std::ofstream cfg(dir / "xervo.toml");
    cfg << "[models.\"chat/tiny\"]\ntask = \"generate\"\nprovider = \"llamacpp\"\nmodel = \""
        << generator.string() << "\"\n"
        << "[server]\nshutdown_grace_s = 10\n"
        << "[server.websocket]\nmax_requests = 4\n"
        << "[server.auth]\nkeys = [{ name = \"node\", sha256 = \"" << sha256_hex("ws-test-key")
        << "\", scopes = [\"inference\"] }]\n";
  }
  ChildProcess server({XERVO_BINARY, "--config", (dir / "xervo.toml").string(), "serve", "--port", "0"});
  auto bound = server.wait_for_listening_port();
  ASSERT_TRUE(bound.has_value()) << server.log();
  const int port = *bound;
  bool healthy = false;
  for (int i = 0; i < 600 && !healthy && server.running(); ++i) {
    httplib::Client c("127.0.0.1", port);
    auto r = c.Get("/health");
    healthy = r && r->status == 200;
    if (!healthy) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(healthy) << server.log();
  auto node = run_command({"env", "NODE_PATH=" XERVO_NODE_MODULES, "XERVO_TEST_KEY=ws-test-key", XERVO_NODE,
                           XERVO_WS_SCRIPT, "http://127.0.0.1:" + std::to_string(port)},
                          std::chrono::seconds(240));
  EXPECT_EQ(node.exit_code, 0) << node.out << node.err << "\n--- server log ---\n" << server.log();
  EXPECT_NE(node.out.find("ok:"), std::string::npos) << node.out;
  // Every WebSocket request has its access-log line, as an HTTP request does.
  EXPECT_NE(server.log().find("\"WS\" \"/v1/ws\" 499"), std::string::npos) << server.log();
  server.signal(SIGTERM);
  auto code = server.wait(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value()) << "xervo serve did not exit after SIGTERM\n" << server.log();
  EXPECT_EQ(*code, 0) << server.log();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xervo::testing
