// End to end with the real binary: the official `@anthropic-ai/sdk` npm client, unchanged and
// with retries off, against `xervo serve` on a generated tiny generator with an API key
// configured (anthropic_client.cjs does the calls). The server stops with SIGTERM and must exit 0.
#include <gtest/gtest.h>

#include <fstream>

#include "node_e2e.h"
#include "xervo/server.h"

namespace xervo::testing {
namespace {

TEST(AnthropicClient, OfficialNodeClientTalksToXervoServe) {
  auto generator = test_model("generator");
  const auto dir = fresh_test_dir("anthropic");
  {
    std::ofstream cfg(dir / "xervo.toml");
    cfg << "[models.\"chat/tiny\"]\ntask = \"generate\"\nprovider = \"llamacpp\"\nmodel = \""
        << generator.string() << "\"\n"
        << "[server]\nshutdown_grace_s = 10\n"
        << "[server.auth]\nkeys = [{ name = \"sdk\", sha256 = \"" << sha256_hex("anthropic-test-key")
        << "\", scopes = [\"inference\"] }]\n";
  }
  run_node_against_serve(dir / "xervo.toml",
                         {XERVO_ANTHROPIC_SCRIPT, "", {"XERVO_TEST_KEY=anthropic-test-key"}});
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xervo::testing
