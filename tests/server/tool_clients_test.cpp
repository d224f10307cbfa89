// End to end: tool calling and reasoning through the `openai`, `ai` (+ @ai-sdk/openai-compatible)
// and `@langchain/openai` npm clients, unchanged and with retries off, against the real
// `xervo serve` on generated models (tool_clients.cjs says what each checks).
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

TEST(ToolClients, NodeClientsCallToolsAndReadReasoning) {
  const auto chatml = test_model("generator");
  const auto hermes =
      test_model("generator", "tiny", "--chat-template NousResearch-Hermes-3-Llama-3.1-8B-tool_use");
  const auto think =
      test_model("generator", "tiny", "--chat-template deepseek-ai-DeepSeek-R1-Distill-Qwen-32B");
  const auto dir =
      std::filesystem::temp_directory_path() / ("xervo-tool-clients-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    std::ofstream cfg(dir / "xervo.toml");
    for (const auto& [alias, file] :
         {std::pair{"chat/tools", chatml}, {"chat/hermes", hermes}, {"chat/think", think}})
      cfg << "[models.\"" << alias << "\"]\ntask = \"generate\"\nprovider = \"llamacpp\"\nmodel = \""
          << file.string() << "\"\noptions = { threads = 1, parallel = 2 }\n";
    cfg << "[server]\nshutdown_grace_s = 10\n"
        << "[server.auth]\nkeys = [{ name = \"node\", sha256 = \"" << sha256_hex("tool-test-key")
        << "\", scopes = [\"inference\"] }]\n";
  }
  ChildProcess server({XERVO_BINARY, "--config", (dir / "xervo.toml").string(), "serve", "--port", "0"});
  auto bound = server.wait_for_listening_port();
  ASSERT_TRUE(bound.has_value()) << server.log();
  auto node = run_command({"env", "NODE_PATH=" XERVO_NODE_MODULES, "XERVO_TEST_KEY=tool-test-key", XERVO_NODE,
                           XERVO_TOOLS_SCRIPT, "http://127.0.0.1:" + std::to_string(*bound) + "/v1"},
                          std::chrono::seconds(420));
  EXPECT_EQ(node.exit_code, 0) << node.out << node.err << "\n--- server log ---\n" << server.log();
  EXPECT_NE(node.out.find("ok: langchain"), std::string::npos) << node.out;
  server.signal(SIGTERM);
  auto code = server.wait(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value()) << server.log();
  EXPECT_EQ(*code, 0) << server.log();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xervo::testing
