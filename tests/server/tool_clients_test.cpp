// End to end: tool calling and reasoning through the `openai`, `ai` (+ @ai-sdk/openai-compatible)
// and `@langchain/openai` npm clients, unchanged and with retries off, against the real
// `xervo serve` on generated models (tool_clients.cjs says what each checks).
#include <gtest/gtest.h>

#include <fstream>

#include "node_e2e.h"
#include "xervo/server.h"

namespace xervo::testing {
namespace {

TEST(ToolClients, NodeClientsCallToolsAndReadReasoning) {
  const auto chatml = test_model("generator");
  const auto hermes =
      test_model("generator", "tiny", "--chat-template NousResearch-Hermes-3-Llama-3.1-8B-tool_use");
  const auto think =
      test_model("generator", "tiny", "--chat-template deepseek-ai-DeepSeek-R1-Distill-Qwen-32B");
  const auto dir = fresh_test_dir("tool-clients");
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
  run_node_against_serve(dir / "xervo.toml", {XERVO_TOOLS_SCRIPT,
                                              "/v1",
                                              {"XERVO_TEST_KEY=tool-test-key"},
                                              "ok: langchain",
                                              std::chrono::seconds(420)});
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xervo::testing
