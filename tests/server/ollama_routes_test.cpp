// Ollama's API over HTTP against an in-process server: every /api/ route's answers and errors, the
// mapping of Ollama's fields onto the runtime's requests (checked on a recording test double), NDJSON
// streaming, keep_alive through the lifecycle, and, where the build has the model library, tags of
// library models, show from a GGUF header, pull from a fake Hub and delete.
#include <algorithm>
#include <fstream>

#include "ollama_test_provider.h"
#include "server_fixture.h"

#if XERVO_HAVE_LIBRARY
#include <ggml.h>
#include <gguf.h>

#include "gguf_writer.h"
#include "hub_server.h"
#include "library_fixture.h"
#endif

namespace xervo::testing {
namespace {

using nlohmann::json;
using namespace ollama_doubles;  // its own names: the Anthropic tests have a ScriptedGenerator too

ModelSpec scripted(std::string alias, std::string mode) {
  ModelSpec s = test_spec(std::move(alias), ModelTask::generate, std::move(mode));
  s.provider = "scripted";
  return s;
}

class Ollama : public ServerTest {
 protected:
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();

  void start_ollama(std::vector<ModelSpec> extra = {}) {
    RuntimeBuilder builder;
    builder.add_provider(std::make_shared<TestProvider>(probe));
    builder.add_provider(std::make_shared<ScriptedProvider>(recorder));
    if (limits) builder.set_limits(*limits);
    for (const auto& spec : base_specs()) builder.add_spec(spec);
    for (const char* mode : {"tools", "think", "logprobs", "echo"})
      builder.add_spec(scripted(std::string("chat/") + mode, mode));
    for (auto& spec : extra) builder.add_spec(spec);
    auto built = builder.build();
    ASSERT_TRUE(built.ok()) << built.error().to_string();
    runtime = *built;
    auto started = Server::start(runtime, options);
    ASSERT_TRUE(started.ok()) << started.error().to_string();
    server = std::move(*started);
  }

  static json body(const httplib::Result& r) {
    if (!r) return json();
    return json::parse(r->body, nullptr, false);
  }
  // The NDJSON lines of a streamed answer.
  static std::vector<json> lines(const httplib::Result& r) {
    std::vector<json> out;
    if (!r) return out;
    size_t start = 0;
    while (start < r->body.size()) {
      size_t end = r->body.find('\n', start);
      if (end == std::string::npos) end = r->body.size();
      if (end > start) out.push_back(json::parse(r->body.substr(start, end - start), nullptr, false));
      start = end + 1;
    }
    return out;
  }
  // Ollama's error: {"error": "message"}; "" when the body is not that shape.
  static std::string ollama_error(const httplib::Result& r) {
    auto j = body(r);
    if (!j.is_object() || !j.contains("error") || !j["error"].is_string()) return "";
    return j["error"].get<std::string>();
  }
  httplib::Result del(const std::string& path, const json& b, const httplib::Headers& headers = {}) {
    return client()->Delete(path.c_str(), headers, b.dump(), "application/json");
  }
  std::vector<std::string> loaded_names() {
    std::vector<std::string> out;
    const json ps = body(get("/api/ps"));  // the range below must not be a part of a temporary
    for (const auto& m : ps["models"]) out.push_back(m["name"]);
    return out;
  }
  static json chat_body(const std::string& model, json extra = json::object()) {
    json b = {{"model", model}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"stream", false}};
    b.update(extra);
    return b;
  }
};

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_F(Ollama, VersionAndTagsListTheAliases) {
  start_ollama();
  auto v = get("/api/version");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->status, 200);
  EXPECT_TRUE(body(v)["version"].is_string());
  auto tags = get("/api/tags");
  ASSERT_EQ(tags->status, 200) << tags->body;
  std::vector<std::string> names;
  const json listed = body(tags);
  for (const auto& m : listed["models"]) {
    SCOPED_TRACE(m.dump());
    names.push_back(m["name"]);
    EXPECT_EQ(m["model"], m["name"]);
    EXPECT_EQ(m["digest"].get<std::string>().size(), 64u);
    EXPECT_TRUE(m["modified_at"].get<std::string>().ends_with("Z"));
    EXPECT_TRUE(m["details"].contains("quantization_level"));
  }
  EXPECT_TRUE(contains(names, "chat/test") && contains(names, "embed/test") && contains(names, "chat/tools"))
      << tags->body;
  EXPECT_EQ(body(tags)["models"][0]["details"]["format"], "remote");  // the test provider has no file
}

TEST_F(Ollama, ChatAnswersWholeWithCountsAndDurations) {
  start_ollama();
  auto r = post("/api/chat", chat_body("chat/test", {{"options", {{"num_predict", 3}}}}));
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = body(r);
  EXPECT_EQ(j["model"], "chat/test");
  EXPECT_EQ(j["message"]["role"], "assistant");
  EXPECT_EQ(j["message"]["content"], "tok0 tok1 tok2 ");
  EXPECT_EQ(j["done"], true);
  EXPECT_EQ(j["done_reason"], "length");
  EXPECT_EQ(j["eval_count"], 3);
  EXPECT_EQ(j["prompt_eval_count"], 2);  // the test double counts prompt bytes
  const int64_t total = j["total_duration"], load = j["load_duration"];
  const int64_t prompt = j["prompt_eval_duration"], eval = j["eval_duration"];
  EXPECT_GE(load, 0);
  EXPECT_GE(total, prompt + eval);  // the generation is part of the request
}

TEST_F(Ollama, ChatStreamsNdjsonByDefault) {
  start_ollama();
  json b = chat_body("chat/test", {{"options", {{"num_predict", 3}}}});
  b.erase("stream");
  auto r = post("/api/chat", b);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  auto ls = lines(r);
  ASSERT_GE(ls.size(), 4u);
  std::string text;
  for (size_t i = 0; i + 1 < ls.size(); ++i) {
    EXPECT_EQ(ls[i]["done"], false);
    text += ls[i]["message"]["content"].get<std::string>();
  }
  EXPECT_EQ(text, "tok0 tok1 tok2 ");
  EXPECT_EQ(ls.back()["done"], true);
  EXPECT_EQ(ls.back()["done_reason"], "length");
  EXPECT_EQ(ls.back()["eval_count"], 3);
  EXPECT_EQ(ls.back()["message"]["content"], "");
}

TEST_F(Ollama, GenerateTemplatesThePromptOrSendsItRaw) {
  start_ollama();
  auto r = post("/api/generate",
                {{"model", "chat/echo"}, {"prompt", "why"}, {"system", "be brief"}, {"stream", false}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body(r)["response"], "ok");
  EXPECT_EQ(body(r)["done_reason"], "stop");
  auto req = recorder->request();
  ASSERT_EQ(req.messages.size(), 2u);
  EXPECT_EQ(req.messages[0].role, "system");
  EXPECT_EQ(req.messages[1].content, "why");
  EXPECT_TRUE(req.prompt.empty());

  auto raw = post("/api/generate", {{"model", "chat/echo"}, {"prompt", "[INST] why"}, {"raw", true}});
  ASSERT_EQ(raw->status, 200) << raw->body;
  auto ls = lines(raw);
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_EQ(ls[0]["response"].get<std::string>() + ls[1]["response"].get<std::string>(), "ok");
  EXPECT_EQ(ls[2]["done"], true);
  req = recorder->request();
  EXPECT_TRUE(req.messages.empty());
  EXPECT_EQ(req.prompt, "[INST] why");
}

TEST_F(Ollama, OptionsBecomeTheGenerationsOptions) {
  start_ollama();
  json opts = {{"temperature", 0.1},
               {"top_p", 0.5},
               {"top_k", 7},
               {"min_p", 0.2},
               {"seed", 42},
               {"stop", {"x", "y"}},
               {"num_predict", 5},
               {"repeat_penalty", 1.3},
               {"presence_penalty", 0.5},
               {"frequency_penalty", 0.25},
               {"mirostat", 0},
               {"typical_p", 1.0}};
  auto r = post("/api/chat", chat_body("chat/echo", {{"options", opts}, {"format", "json"}}));
  ASSERT_EQ(r->status, 200) << r->body;
  auto o = recorder->request().options;
  EXPECT_FLOAT_EQ(o.temperature, 0.1f);
  EXPECT_FLOAT_EQ(o.top_p, 0.5f);
  EXPECT_EQ(o.top_k, 7);
  EXPECT_FLOAT_EQ(o.min_p, 0.2f);
  EXPECT_EQ(o.seed, 42u);
  EXPECT_EQ(o.stop, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(o.max_tokens, 5);
  EXPECT_FLOAT_EQ(o.repeat_penalty, 1.3f);
  EXPECT_FLOAT_EQ(o.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(o.frequency_penalty, 0.25f);
  EXPECT_EQ(o.json_schema, R"({"type":"object"})");

  json schema = {{"type", "object"}, {"properties", {{"age", {{"type", "integer"}}}}}};
  ASSERT_EQ(post("/api/chat", chat_body("chat/echo", {{"format", schema},
                                                      {"options", {{"seed", -1}, {"num_predict", -1}}}}))
                ->status,
            200);
  o = recorder->request().options;
  EXPECT_EQ(json::parse(o.json_schema), schema);
  EXPECT_FALSE(o.seed.has_value()) << "seed -1 is Ollama's random";
  EXPECT_EQ(o.max_tokens, options.max_tokens) << "num_predict -1 is the server's max_tokens";
}

TEST_F(Ollama, RefusesWhatItCannotHonourWith400) {
  ModelSpec sized = test_spec("chat/sized", ModelTask::generate, "stream");
  sized.options = {{"context_size", 2048}};
  start_ollama({sized});
  struct Case {
    std::string path;
    json body;
    std::string names;
  };
  const json hi = {{{"role", "user"}, {"content", "hi"}}};
  std::vector<Case> cases = {
      {"/api/chat", chat_body("chat/test", {{"options", {{"num_ctx", 8192}}}}), "num_ctx"},
      {"/api/chat", chat_body("chat/sized", {{"options", {{"num_ctx", 4096}}}}), "2048"},
      {"/api/chat", chat_body("chat/test", {{"options", {{"num_gpu", 1}}}}), "num_gpu"},
      {"/api/chat", chat_body("chat/test", {{"options", {{"mirostat", 2}}}}), "mirostat"},
      {"/api/chat", chat_body("chat/test", {{"options", {{"temperature", 5}}}}), "options.temperature"},
      {"/api/chat", chat_body("chat/test", {{"options", {{"num_predict", 0}}}}), "num_predict"},
      {"/api/chat", chat_body("chat/test", {{"format", 5}}), "format"},
      {"/api/chat", chat_body("chat/test", {{"think", "very"}}), "think"},
      {"/api/chat",
       {{"model", "chat/test"}, {"messages", {{{"role", "user"}, {"content", "x"}, {"images", {"aGk="}}}}}},
       "images"},
      {"/api/chat", {{"model", "chat/test"}, {"messages", {{{"role", "wizard"}, {"content", "x"}}}}}, "role"},
      {"/api/chat", chat_body("chat/test", {{"tools", {{{"type", "function"}}}}}), "tools[0]"},
      {"/api/generate", {{"model", "chat/test"}, {"prompt", "x"}, {"images", {"aGk="}}}, "images"},
      {"/api/generate", {{"model", "chat/test"}, {"prompt", "x"}, {"suffix", "y"}}, "suffix"},
      {"/api/generate", {{"model", "chat/test"}, {"prompt", "x"}, {"raw", true}, {"system", "s"}}, "system"},
      {"/api/generate", {{"model", "chat/test"}, {"prompt", "x"}, {"context", {1, 2}}}, "context"},
      {"/api/chat", chat_body("chat/test", {{"keep_alive", "soon"}}), "keep_alive"},
      {"/api/chat", {{"messages", hi}}, "model"},
      {"/api/embed", {{"model", "embed/test"}, {"input", 5}}, "input"},
      {"/api/embed",
       {{"model", "embed/test"}, {"input", "x"}, {"options", {{"num_thread", 4}}}},
       "num_thread"},
  };
  for (const auto& c : cases) {
    auto r = post(c.path, c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << c.body.dump() << " -> " << r->body;
    EXPECT_NE(ollama_error(r).find(c.names), std::string::npos) << c.body.dump() << " -> " << r->body;
  }
  EXPECT_EQ(probe->started.load(), 0) << "nothing refused reached the model";
  // num_ctx equal to the alias's context_size is honoured as it is.
  EXPECT_EQ(post("/api/chat", chat_body("chat/sized", {{"options", {{"num_ctx", 2048}}}}))->status, 200);
}

TEST_F(Ollama, UnknownModelsAre404AndWrongTasks400InOllamasShape) {
  start_ollama();
  auto r = post("/api/chat", chat_body("no/such"));
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(ollama_error(r).find("no/such"), std::string::npos) << r->body;
  auto task = post("/api/chat", chat_body("embed/test"));
  EXPECT_EQ(task->status, 400);
  EXPECT_FALSE(ollama_error(task).empty()) << task->body;
  auto route = get("/api/nope");
  EXPECT_EQ(route->status, 404);
  EXPECT_FALSE(ollama_error(route).empty()) << route->body;
  auto show = post("/api/show", {{"model", "no/such"}});
  EXPECT_EQ(show->status, 404);
  EXPECT_FALSE(ollama_error(show).empty()) << show->body;
  // A failure after the stream began is an error line.
  auto failing =
      post("/api/chat", {{"model", "chat/fail"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  ASSERT_EQ(failing->status, 200);
  auto ls = lines(failing);
  ASSERT_EQ(ls.size(), 1u) << failing->body;
  EXPECT_NE(ls[0]["error"].get<std::string>().find("test generation failure"), std::string::npos);
}

TEST_F(Ollama, OllamaNamesWithTheLatestTagResolveToAliases) {
  start_ollama();
  auto r = post("/api/chat", chat_body("chat/test:latest", {{"options", {{"num_predict", 1}}}}));
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body(r)["model"], "chat/test:latest") << "the name is echoed as asked";
  EXPECT_EQ(post("/api/chat", chat_body("chat/test:q4"))->status, 404);
}

TEST_F(Ollama, ToolsReachTheModelAndCallsComeBack) {
  start_ollama();
  json tools = {{{"type", "function"},
                 {"function",
                  {{"name", "get_weather"},
                   {"description", "Weather of a city"},
                   {"parameters", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}}}}};
  auto r = post("/api/chat", chat_body("chat/tools", {{"tools", tools}}));
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = body(r);
  ASSERT_EQ(j["message"]["tool_calls"].size(), 1u) << r->body;
  EXPECT_EQ(j["message"]["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(j["message"]["tool_calls"][0]["function"]["arguments"], json({{"city", "Paris"}}));
  EXPECT_EQ(j["done_reason"], "stop");
  auto req = recorder->request();
  ASSERT_EQ(req.tools.size(), 1u);
  EXPECT_EQ(req.tools[0].name, "get_weather");
  EXPECT_EQ(req.tools[0].description, "Weather of a city");
  EXPECT_EQ(json::parse(req.tools[0].parameters), tools[0]["function"]["parameters"]);

  // Streamed: the calls come whole in a line before the last one.
  json b = chat_body("chat/tools", {{"tools", tools}});
  b.erase("stream");
  auto ls = lines(post("/api/chat", b));
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(ls[0]["message"]["tool_calls"][0]["function"]["arguments"]["city"], "Paris");
  EXPECT_EQ(ls[1]["done"], true);

  // The answer goes back: the tool message is linked to the call it answers.
  json messages = {
      {{"role", "user"}, {"content", "weather?"}},
      {{"role", "assistant"},
       {"content", ""},
       {"tool_calls", {{{"function", {{"name", "get_weather"}, {"arguments", {{"city", "Paris"}}}}}}}}},
      {{"role", "tool"}, {"content", "sunny"}, {"tool_name", "get_weather"}}};
  ASSERT_EQ(post("/api/chat", {{"model", "chat/echo"}, {"messages", messages}, {"stream", false}})->status,
            200);
  req = recorder->request();
  ASSERT_EQ(req.messages.size(), 3u);
  ASSERT_EQ(req.messages[1].tool_calls.size(), 1u);
  EXPECT_EQ(json::parse(req.messages[1].tool_calls[0].arguments), json({{"city", "Paris"}}));
  EXPECT_EQ(req.messages[2].role, "tool");
  EXPECT_EQ(req.messages[2].name, "get_weather");
  EXPECT_EQ(req.messages[2].tool_call_id, req.messages[1].tool_calls[0].id);
}

TEST_F(Ollama, ThinkingComesApartAndLogprobsWhenAsked) {
  start_ollama();
  auto r = post("/api/chat", chat_body("chat/think", {{"think", true}}));
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body(r)["message"]["thinking"], "hmm");
  EXPECT_EQ(body(r)["message"]["content"], "ok");
  auto streamed = lines(post("/api/generate", {{"model", "chat/think"}, {"prompt", "q"}}));
  ASSERT_FALSE(streamed.empty());
  EXPECT_EQ(streamed[0]["thinking"], "hmm");
  ASSERT_EQ(post("/api/chat", chat_body("chat/think", {{"think", false}}))->status, 200);
  EXPECT_FALSE(recorder->request().options.separate_reasoning);

  auto lp = post("/api/chat", chat_body("chat/logprobs", {{"logprobs", true}, {"top_logprobs", 2}}));
  ASSERT_EQ(lp->status, 200) << lp->body;
  auto logprobs = body(lp)["logprobs"];
  ASSERT_EQ(logprobs.size(), 2u) << lp->body;
  EXPECT_EQ(logprobs[0]["token"], "o");
  EXPECT_DOUBLE_EQ(logprobs[0]["logprob"].get<double>(), -0.5);
  EXPECT_EQ(logprobs[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(recorder->request().options.top_logprobs, 2);
}

TEST_F(Ollama, KeepAliveLoadsAndUnloadsThroughTheLifecycle) {
  start_ollama();
  EXPECT_FALSE(contains(loaded_names(), "chat/test"));
  auto load = post("/api/chat", {{"model", "chat/test"}, {"messages", json::array()}, {"keep_alive", -1}});
  ASSERT_EQ(load->status, 200) << load->body;
  EXPECT_EQ(body(load)["done_reason"], "load");
  auto ps = body(get("/api/ps"))["models"];
  ASSERT_EQ(ps.size(), 1u) << ps.dump();
  EXPECT_EQ(ps[0]["name"], "chat/test");
  EXPECT_EQ(ps[0]["size"], 1234);
  EXPECT_EQ(ps[0]["size_vram"], 0);
  EXPECT_EQ(ps[0]["expires_at"], "9999-12-31T23:59:59Z") << "keep_alive -1: never";

  ASSERT_EQ(post("/api/generate", {{"model", "chat/test"},
                                   {"prompt", "x"},
                                   {"keep_alive", "5m"},
                                   {"stream", false},
                                   {"options", {{"num_predict", 1}}}})
                ->status,
            200);
  ps = body(get("/api/ps"))["models"];
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_NE(ps[0]["expires_at"], "9999-12-31T23:59:59Z") << "5m from its last use";

  auto unload = post("/api/generate", {{"model", "chat/test"}, {"keep_alive", 0}});
  ASSERT_EQ(unload->status, 200) << unload->body;
  EXPECT_EQ(body(unload)["done_reason"], "unload");
  EXPECT_TRUE(loaded_names().empty()) << "unloaded before the answer";
  // Unloading what is not loaded loads nothing.
  const int loads = probe->loads.load();
  EXPECT_EQ(body(post("/api/chat", {{"model", "chat/test"}, {"keep_alive", 0}}))["done_reason"], "unload");
  EXPECT_EQ(probe->loads.load(), loads);
}

TEST_F(Ollama, ShowDescribesAModel) {
  ModelSpec remote = test_spec("chat/remote", ModelTask::generate, "stream");
  remote.options = {{"context_size", 2048}, {"base_url", "http://10.0.0.1/secret"}};
  start_ollama({remote});
  auto r = post("/api/show", {{"model", "chat/remote"}});
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = body(r);
  EXPECT_EQ(j["capabilities"], json({"completion"}));
  EXPECT_NE(j["parameters"].get<std::string>().find("context_size"), std::string::npos);
  EXPECT_EQ(r->body.find("10.0.0.1"), std::string::npos) << "endpoints stay private";
  EXPECT_NE(j["modelfile"].get<std::string>().find("FROM test:stream"), std::string::npos) << j["modelfile"];
  EXPECT_EQ(j["details"]["family"], "test");
  auto embed = post("/api/show", {{"name", "embed/test"}});  // the older field name
  ASSERT_EQ(embed->status, 200) << embed->body;
  EXPECT_EQ(body(embed)["capabilities"], json({"embedding"}));
}

TEST_F(Ollama, EmbedAndTheOlderEmbeddings) {
  start_ollama();
  auto r = post("/api/embed", {{"model", "embed/test"}, {"input", {"ab", "abcd"}}});
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = body(r);
  ASSERT_EQ(j["embeddings"].size(), 2u);
  EXPECT_EQ(j["embeddings"][1][0], 4.0);  // the test double puts the input's length first
  EXPECT_EQ(j["embeddings"][0].size(), 4u);
  EXPECT_EQ(j["prompt_eval_count"], 6);
  EXPECT_EQ(j["model"], "embed/test");
  auto shorter = post("/api/embed", {{"model", "embed/test"}, {"input", "ab"}, {"dimensions", 2}});
  ASSERT_EQ(shorter->status, 200) << shorter->body;
  EXPECT_EQ(body(shorter)["embeddings"][0].size(), 2u);
  auto old = post("/api/embeddings", {{"model", "embed/test"}, {"prompt", "abc"}});
  ASSERT_EQ(old->status, 200) << old->body;
  EXPECT_EQ(body(old)["embedding"][0], 3.0);
  auto load = post("/api/embed", {{"model", "embed/test"}});
  ASSERT_EQ(load->status, 200) << load->body;
  EXPECT_TRUE(body(load)["embeddings"].empty());
  auto wrong = post("/api/embed", {{"model", "chat/test"}, {"input", "x"}});
  EXPECT_EQ(wrong->status, 400);
  EXPECT_FALSE(ollama_error(wrong).empty());
}

TEST_F(Ollama, AuthAndScopesApplyAndErrorsKeepOllamasShape) {
  for (const auto& [name, scope] : {std::pair{"app", "inference"}, std::pair{"ops", "admin"}}) {
    ApiKey key;
    key.name = name;
    key.sha256 = sha256_hex(std::string(name) + "-key");
    key.scopes = {scope};
    options.keys.push_back(key);
  }
  start_ollama();
  auto anonymous = get("/api/tags");
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_FALSE(ollama_error(anonymous).empty()) << anonymous->body;
  httplib::Headers app = {{"Authorization", "Bearer app-key"}};
  EXPECT_EQ(get("/api/tags", app)->status, 200);
  EXPECT_EQ(post("/api/chat", chat_body("chat/echo"), app)->status, 200);
  auto pull = post("/api/pull", {{"model", "org/repo"}}, app);
  EXPECT_EQ(pull->status, 403) << "pulling needs the admin scope";
  EXPECT_FALSE(ollama_error(pull).empty()) << pull->body;
  EXPECT_EQ(del("/api/delete", {{"model", "x/y"}}, app)->status, 403);
  auto no_library = post("/api/pull", {{"model", "org/repo"}}, {{"Authorization", "Bearer ops-key"}});
  EXPECT_EQ(no_library->status, 503);
  EXPECT_NE(ollama_error(no_library).find("library"), std::string::npos) << no_library->body;
}

#if XERVO_HAVE_LIBRARY
std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A small GGUF (as gguf_writer.h writes them) with a chat template: one tensor and the keys show reads.
void write_templated_gguf(const std::filesystem::path& path) {
  ggml_init_params params{};
  params.mem_size = 1024 * 1024;
  std::unique_ptr<ggml_context, decltype(&ggml_free)> ctx(ggml_init(params), ggml_free);
  std::unique_ptr<gguf_context, decltype(&gguf_free)> g(gguf_init_empty(), gguf_free);
  gguf_set_val_str(g.get(), "general.architecture", "llama");
  gguf_set_val_str(g.get(), "general.name", "templated");
  gguf_set_val_u32(g.get(), "general.file_type", 1);
  gguf_set_val_str(g.get(), "tokenizer.chat_template",
                   "{% for m in messages %}{{ m.content }}{% if tools %}tools{% endif %}<think>{% endfor %}");
  ggml_tensor* t = ggml_new_tensor_1d(ctx.get(), GGML_TYPE_F32, 64);
  ggml_set_name(t, "token_embd.weight");
  std::fill_n(static_cast<float*>(t->data), 64, 0.5f);
  gguf_add_tensor(g.get(), t);
  ASSERT_TRUE(gguf_write_to_file(g.get(), path.c_str(), false));
}

class OllamaLibrary : public Ollama {
 protected:
  FakeHub hub;
  TempDir home;
  std::string content;

  void SetUp() override {
    TempDir staging;
    write_test_gguf(staging.path / "m.gguf", {.name = "tiny", .seed = 3, .elements = 100000});
    content = file_bytes(staging.path / "m.gguf");
    hub.add_file("TheOrg/Tiny-GGUF", "tiny.Q4_K_M.gguf", content);
    options.library = open_test_library(home.path, hub.endpoint());
    ASSERT_TRUE(options.library);
  }
};

TEST_F(OllamaLibrary, PullStreamsProgressThenTagsListAndDeleteRemoves) {
  start_ollama();
  auto r = post("/api/pull", {{"name", "hf:TheOrg/Tiny-GGUF:Q4_K_M"}});  // ollama-js sends `name`
  ASSERT_EQ(r->status, 200) << r->body;
  auto ls = lines(r);
  ASSERT_GE(ls.size(), 3u) << r->body;
  EXPECT_EQ(ls.front()["status"], "pulling manifest");
  EXPECT_EQ(ls[1]["total"], content.size());
  EXPECT_EQ(ls[ls.size() - 2]["completed"], content.size());
  EXPECT_EQ(ls.back()["status"], "success");
  const std::string id = ls.back()["model"];
  EXPECT_EQ(ls.back()["digest"], "sha256:" + FakeHub::sha256_hex(content));

  auto tags = body(get("/api/tags"))["models"];
  auto it = std::find_if(tags.begin(), tags.end(), [&](const json& m) { return m["name"] == id; });
  ASSERT_NE(it, tags.end()) << tags.dump();
  EXPECT_EQ((*it)["size"], content.size());
  EXPECT_EQ((*it)["details"]["format"], "gguf");
  EXPECT_EQ((*it)["details"]["quantization_level"], "Q4_K_M");
  EXPECT_EQ((*it)["digest"], FakeHub::sha256_hex(content));
  auto shown = post("/api/show", {{"model", id + ":latest"}});
  ASSERT_EQ(shown->status, 200) << shown->body;
  EXPECT_EQ(body(shown)["details"]["family"], "llama");

  // Not streamed, and already there: answered from the library.
  auto again = post("/api/pull", {{"model", "TheOrg/Tiny-GGUF:Q4_K_M"}, {"stream", false}});
  ASSERT_EQ(again->status, 200) << again->body;
  EXPECT_EQ(body(again)["status"], "success");

  auto removed = del("/api/delete", {{"name", id}});
  ASSERT_EQ(removed->status, 200) << removed->body;
  EXPECT_FALSE(options.library->get(id).ok());
  auto gone = del("/api/delete", {{"name", id}});
  EXPECT_EQ(gone->status, 404);
  EXPECT_FALSE(ollama_error(gone).empty());
  EXPECT_EQ(del("/api/delete", {{"name", "chat/test"}})->status, 400) << "aliases live in xervo.toml";
}

TEST_F(OllamaLibrary, PullErrorsAreOllamaErrors) {
  start_ollama();
  auto bad = post("/api/pull", {{"model", "llama3.2"}, {"stream", false}});
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(ollama_error(bad).find("Hub"), std::string::npos) << bad->body;
  auto missing = post("/api/pull", {{"model", "TheOrg/Nothing-GGUF"}});
  ASSERT_EQ(missing->status, 200) << "the stream began before the Hub answered";
  auto ls = lines(missing);
  ASSERT_FALSE(ls.empty());
  EXPECT_FALSE(ls.back()["error"].get<std::string>().empty()) << missing->body;
}

TEST_F(OllamaLibrary, ShowReadsTheTemplateAndFactsOfALocalFile) {
  write_templated_gguf(home.path / "templated.gguf");
  ModelSpec local = test_spec("chat/file", ModelTask::generate, (home.path / "templated.gguf").string());
  start_ollama({local});
  auto r = post("/api/show", {{"model", "chat/file"}});
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = body(r);
  EXPECT_NE(j["template"].get<std::string>().find("m.content"), std::string::npos) << r->body;
  EXPECT_EQ(j["details"]["format"], "gguf");
  EXPECT_EQ(j["model_info"]["general.name"], "templated");
  EXPECT_EQ(j["capabilities"], json({"completion", "tools", "thinking"}));
  EXPECT_EQ(r->body.find(home.path.string()), std::string::npos) << "no file-system path in show";
}
#endif

}  // namespace
}  // namespace xervo::testing
