// End to end with the real binary: the official `openai` npm client against `xervo serve` on
// generated tiny models (with an API key configured), and `xervo serve --demo` from an empty
// XERVO_HOME. Both stop the server with SIGTERM and expect a clean exit.
#include <gtest/gtest.h>
#include <httplib.h>

#include <csignal>
#include <fstream>
#include <thread>

#include "node_e2e.h"
#include "xervo/server.h"

namespace xervo::testing {
namespace {

TEST(OpenAIClient, OfficialNodeClientTalksToXervoServe) {
  auto embedder = test_model("embedder");
  auto generator = test_model("generator");
  auto dir = fresh_test_dir("server-node");
  {
    std::ofstream cfg(dir / "xervo.toml");
    cfg << "[models.\"embed/tiny\"]\ntask = \"embed\"\nprovider = \"llamacpp\"\nmodel = \""
        << embedder.string() << "\"\n"
        << "[models.\"chat/tiny\"]\ntask = \"generate\"\nprovider = \"llamacpp\"\nmodel = \""
        << generator.string() << "\"\n"
        << "[server]\nshutdown_grace_s = 10\n"
        << "[server.auth]\nkeys = [{ name = \"node\", sha256 = \"" << sha256_hex("node-test-key")
        << "\", scopes = [\"inference\"] }]\n";
  }
  run_node_against_serve(dir / "xervo.toml", {XERVO_OPENAI_SCRIPT, "/v1", {"XERVO_TEST_KEY=node-test-key"}});
  std::filesystem::remove_all(dir);
}

TEST(OpenAIClient, AsksForNChoicesAndLogprobs) {
  auto generator = test_model("generator");
  auto dir = fresh_test_dir("server-sampling");
  std::ofstream(dir / "xervo.toml")
      << "[models.\"chat/tiny\"]\ntask = \"generate\"\nprovider = \"llamacpp\"\n"
      << "model = \"" << generator.string() << "\"\noptions = { parallel = 4 }\n";
  const auto script = std::filesystem::path(XERVO_OPENAI_SCRIPT).parent_path() / "openai_sampling.cjs";
  run_node_against_serve(dir / "xervo.toml", {script.string(), "/v1"});
  std::filesystem::remove_all(dir);
}

TEST(ServeDemo, GeneratesModelsAndServesTheDefaultAliases) {
  auto home = fresh_test_dir("server-demo");
  std::ofstream(home / "empty.toml") << "# no aliases: --demo adds its own\n";
  ChildProcess server({"env", "XERVO_HOME=" + home.string(), "XERVO_CONFIG=" + (home / "empty.toml").string(),
                       XERVO_BINARY, "serve", "--demo", "--port", "0"});
  auto bound = server.wait_for_listening_port(std::chrono::seconds(120));
  ASSERT_TRUE(bound.has_value()) << server.log();
  const int port = *bound;
  ASSERT_TRUE(wait_healthy(server, port, std::chrono::steady_clock::now() + std::chrono::seconds(60)))
      << server.log();
  // Under models/demo/: a plain file, or the library's canonical models/demo/chat-small/chat-small.gguf.
  bool generated = false;
  for (const auto& e : std::filesystem::recursive_directory_iterator(home / "models" / "demo"))
    generated = generated || e.path().filename() == "chat-small.gguf";
  EXPECT_TRUE(generated);
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120, 0);
  auto embed =
      c.Post("/v1/embeddings", R"({"model": "embed/default", "input": ["hello world"]})", "application/json");
  ASSERT_TRUE(embed);
  EXPECT_EQ(embed->status, 200) << embed->body;
  auto rerank =
      c.Post("/v1/rerank", R"({"model": "rerank/default", "query": "hi", "documents": ["hello", "tax"]})",
             "application/json");
  ASSERT_TRUE(rerank);
  EXPECT_EQ(rerank->status, 200) << rerank->body;
  auto chat =
      c.Post("/v1/chat/completions",
             R"({"model": "chat/default", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]})",
             "application/json");
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->status, 200) << chat->body;
  EXPECT_NE(server.log().find("curl"), std::string::npos) << server.log();
#if XERVO_HAVE_LIBRARY
  auto in_library = c.Get("/v1/library/models/demo/chat-small");
  ASSERT_TRUE(in_library);
  EXPECT_EQ(in_library->status, 200) << in_library->body;
  auto search = c.Get("/v1/library/search?task=embed");
  ASSERT_TRUE(search);
  EXPECT_NE(search->body.find("demo/embed-small"), std::string::npos) << search->body;
  auto bad = c.Get("/v1/library/search?limit=abc");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
#endif
  server.signal(SIGINT);
  auto code = server.wait(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value()) << server.log();
  EXPECT_EQ(*code, 0) << server.log();
  std::filesystem::remove_all(home);
}

}  // namespace
}  // namespace xervo::testing
