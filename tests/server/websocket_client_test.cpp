// End to end: the npm `ws` client against the real `xervo serve` on a generated tiny llama, with an
// API key: auth by subprotocol and by header, two generations at once, cancel, errors, closing.
#include <gtest/gtest.h>

#include <fstream>

#include "node_e2e.h"
#include "xervo/server.h"

namespace xervo::testing {
namespace {

TEST(WebSocketClient, NodeWsClientTalksToXervoServe) {
  auto generator = test_model("generator");
  const auto dir = fresh_test_dir("server-ws");
  {
    std::ofstream cfg(dir / "xervo.toml");
    cfg << "[models.\"chat/tiny\"]\ntask = \"generate\"\nprovider = \"llamacpp\"\nmodel = \""
        << generator.string() << "\"\n"
        << "[server]\nshutdown_grace_s = 10\n"
        << "[server.websocket]\nmax_requests = 4\n"
        << "[server.auth]\nkeys = [{ name = \"node\", sha256 = \"" << sha256_hex("ws-test-key")
        << "\", scopes = [\"inference\"] }]\n";
  }
  run_node_against_serve(
      dir / "xervo.toml", {XERVO_WS_SCRIPT, "", {"XERVO_TEST_KEY=ws-test-key"}}, [](XervoServe& server) {
        // Every WebSocket request has its access-log line, as an HTTP request does.
        EXPECT_NE(server.log().find("\"WS\" \"/v1/ws\" 499"), std::string::npos) << server.log();
      });
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xervo::testing
