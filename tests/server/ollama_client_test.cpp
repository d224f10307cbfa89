// End to end with the real binary: the official `ollama` npm client, unchanged, against
// `xervo serve` on generated tiny models with an API key configured (ollama_client.cjs); the server
// stops on SIGTERM with a clean exit. Ollama's API has no tool_choice, so a random-weight model
// rarely calls a tool: the tool calls come from chat/remote, an OpenAI-compatible alias whose
// upstream is a scripted server this test starts on 127.0.0.1 (the remote pass-through path).
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "node_e2e.h"
#include "xervo/server.h"

namespace xervo::testing {
namespace {

// An OpenAI-compatible upstream: with tools it calls the first one with {"zone": "UTC"} (whole, or
// streamed as a header and two argument pieces); after a tool result it answers with that result.
class ScriptedUpstream {
 public:
  ScriptedUpstream() {
    server_.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[]})", "application/json");
    });
    server_.Post("/v1/chat/completions", [](const httplib::Request& req, httplib::Response& res) {
      auto body = nlohmann::json::parse(req.body, nullptr, false);
      if (!body.is_object() || !body.contains("messages")) {
        res.status = 400;
        return;
      }
      const auto& last = body["messages"].back();
      std::string answer;
      std::string tool;
      if (last.value("role", "") == "tool")
        answer = "It is " + last.value("content", std::string()) + ".";
      else if (body.contains("tools") && !body["tools"].empty())
        tool = body["tools"][0]["function"]["name"].get<std::string>();
      else
        answer = "Hello.";
      const bool stream = body.value("stream", false);
      const nlohmann::json usage = {{"prompt_tokens", 12}, {"completion_tokens", 3}, {"total_tokens", 15}};
      if (!stream) {
        nlohmann::json message = {{"role", "assistant"}, {"content", answer}};
        if (!tool.empty()) {
          message["content"] = nullptr;
          message["tool_calls"] = {{{"id", "call_up1"},
                                    {"type", "function"},
                                    {"function", {{"name", tool}, {"arguments", R"({"zone": "UTC"})"}}}}};
        }
        nlohmann::json out = {
            {"id", "up-1"},
            {"object", "chat.completion"},
            {"choices",
             {{{"index", 0}, {"message", message}, {"finish_reason", tool.empty() ? "stop" : "tool_calls"}}}},
            {"usage", usage}};
        res.set_content(out.dump(), "application/json");
        return;
      }
      std::vector<nlohmann::json> deltas;
      if (tool.empty()) {
        deltas.push_back({{"content", answer}});
      } else {
        deltas.push_back({{"tool_calls",
                           {{{"index", 0},
                             {"id", "call_up1"},
                             {"type", "function"},
                             {"function", {{"name", tool}, {"arguments", ""}}}}}}});
        deltas.push_back({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", R"({"zone":)"}}}}}}});
        deltas.push_back({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", R"( "UTC"})"}}}}}}});
      }
      std::string sse;
      for (const auto& d : deltas)
        sse += "data: " +
               nlohmann::json{{"id", "up-1"},
                              {"object", "chat.completion.chunk"},
                              {"choices", {{{"index", 0}, {"delta", d}, {"finish_reason", nullptr}}}}}
                   .dump() +
               "\n\n";
      sse += "data: " +
             nlohmann::json{{"id", "up-1"},
                            {"object", "chat.completion.chunk"},
                            {"choices",
                             {{{"index", 0},
                               {"delta", nlohmann::json::object()},
                               {"finish_reason", tool.empty() ? "stop" : "tool_calls"}}}},
                            {"usage", usage}}
                 .dump() +
             "\n\ndata: [DONE]\n\n";
      res.set_content(sse, "text/event-stream");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    // Bound and listening already: connections wait in the backlog until the thread accepts them.
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~ScriptedUpstream() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(OllamaClient, OfficialNodeClientTalksToXervoServe) {
  ScriptedUpstream upstream;
  auto embedder = test_model("embedder");
  auto generator = test_model("generator");
  const auto dir = fresh_test_dir("server-ollama");
  {
    std::ofstream cfg(dir / "xervo.toml");
    cfg << "[models.\"embed/tiny\"]\ntask = \"embed\"\nprovider = \"llamacpp\"\nmodel = \""
        << embedder.string() << "\"\n"
        << "[models.\"chat/tiny\"]\ntask = \"generate\"\nprovider = \"llamacpp\"\nmodel = \""
        << generator.string() << "\"\n"
        << "[models.\"chat/remote\"]\ntask = \"generate\"\nprovider = \"openai\"\nmodel = \"up\"\n"
        << "options = { base_url = \"http://127.0.0.1:" << upstream.port()
        << "/v1\", retry = { max_attempts = 1 } }\n"
        << "[library]\nhome = \"" << (dir / "home").string() << "\"\n"
        << "[server]\nshutdown_grace_s = 10\n"
        << "[server.auth]\nkeys = [{ name = \"node\", sha256 = \"" << sha256_hex("ollama-test-key")
        << "\", scopes = [\"inference\"] }]\n";
  }
  run_node_against_serve(dir / "xervo.toml", {XERVO_OLLAMA_SCRIPT, "", {"XERVO_TEST_KEY=ollama-test-key"}});
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xervo::testing
