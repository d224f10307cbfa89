// Provider plugins through the C ABI: the example hashing embedder and the test plugins of
// test_plugins.c (built into XERVO_TEST_PLUGIN_DIR), loaded in-process and through `xervo serve`.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <set>
#include <thread>

#include "process.h"
#include "providers/plugin/plugin_loader.h"
#include "xervo/runtime.h"

namespace xervo {
namespace {

const std::filesystem::path kPluginDir = XERVO_TEST_PLUGIN_DIR;

std::filesystem::path fresh_dir(const std::string& name) {
  auto dir =
      std::filesystem::temp_directory_path() / ("xervo-plugin-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// A folder with a file that ends in .so and is not a shared library.
std::filesystem::path garbage_dir() {
  auto dir = fresh_dir("garbage");
  std::ofstream(dir / "garbage.so") << "this is not an ELF file\n";
  return dir;
}

std::string errors_of(const PluginLoadReport& report) {
  std::string out;
  for (const auto& e : report.errors) out += e.message() + "\n";
  return out;
}

const Error* error_naming(const PluginLoadReport& report, const std::string& file) {
  for (const auto& e : report.errors)
    if (e.message().find(file) != std::string::npos) return &e;
  return nullptr;
}

std::shared_ptr<ModelRuntime> runtime_with(std::vector<ModelSpec> specs) {
  RuntimeBuilder builder;
  for (auto& s : specs) builder.add_spec(std::move(s));
  auto report = add_plugin_providers(builder, {{"paths", {kPluginDir.string()}}}, {"openai"});
  EXPECT_FALSE(report.loaded.empty()) << errors_of(report);
  auto runtime = builder.build();
  EXPECT_TRUE(runtime.ok()) << runtime.error().to_string();
  return runtime.ok() ? *runtime : nullptr;
}

ModelSpec spec(std::string alias, ModelTask task, std::string provider, std::string model,
               nlohmann::json options = nlohmann::json::object()) {
  ModelSpec s;
  s.alias = std::move(alias);
  s.task = task;
  s.provider = std::move(provider);
  s.model = std::move(model);
  s.options = std::move(options);
  return s;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += double(a[i]) * b[i];
  return d;
}

TEST(PluginLoader, LoadsTheGoodOnesAndNamesEachBadFileWithItsReason) {
  std::set<std::string> taken = {"openai"};
  auto report = load_plugins({kPluginDir, garbage_dir()}, taken);
  std::set<std::string> ids;
  for (const auto& lib : report.loaded) ids.insert(lib->id);
  EXPECT_EQ(ids, (std::set<std::string>{"hashembed", "echo", "failing", "baddims"})) << errors_of(report);

  const Error* e = error_naming(report, "bad_abi.so");
  ASSERT_NE(e, nullptr) << errors_of(report);
  EXPECT_NE(e->message().find("ABI version 999"), std::string::npos) << e->message();
  e = error_naming(report, "no_get_api.so");
  ASSERT_NE(e, nullptr) << errors_of(report);
  EXPECT_NE(e->message().find("missing symbol xervo_plugin_get_api"), std::string::npos) << e->message();
  e = error_naming(report, "garbage.so");
  ASSERT_NE(e, nullptr) << errors_of(report);
  EXPECT_NE(e->message().find("cannot load as a shared library"), std::string::npos) << e->message();
  e = error_naming(report, "no_rerank.so");
  ASSERT_NE(e, nullptr) << errors_of(report);
  EXPECT_NE(e->message().find("lacks the function rerank"), std::string::npos) << e->message();
  e = error_naming(report, "taken_id.so");
  ASSERT_NE(e, nullptr) << errors_of(report);
  EXPECT_NE(e->message().find("'openai' is taken"), std::string::npos) << e->message();
  EXPECT_EQ(report.errors.size(), 5u) << errors_of(report);
}

TEST(PluginLoader, AFolderThatDoesNotExistIsAnErrorAndTheRestLoads) {
  std::set<std::string> taken;
  auto report = load_plugins({"/nonexistent/xervo-plugins", kPluginDir / "hash_embedder.so"}, taken);
  ASSERT_EQ(report.loaded.size(), 1u) << errors_of(report);
  EXPECT_EQ(report.loaded[0]->id, "hashembed");
  ASSERT_NE(error_naming(report, "/nonexistent/xervo-plugins"), nullptr) << errors_of(report);
}

TEST(PluginLoader, XervoPluginPathIsSearchedAfterTheConfig) {
  ::setenv("XERVO_PLUGIN_PATH", "/a:/b", 1);
  auto paths = plugin_search_paths({{"paths", {"/c"}}});
  ::unsetenv("XERVO_PLUGIN_PATH");
  EXPECT_EQ(paths, (std::vector<std::filesystem::path>{"/c", "/a", "/b"}));
}

TEST(PluginConfig, PluginsSectionResolvesRelativePathsAndRejectsUnknownKeys) {
  auto config = parse_config("[plugins]\npaths = [\"plugins\", \"/abs\"]\n", "/etc/xervo/xervo.toml");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->providers["plugins"]["paths"], nlohmann::json({"/etc/xervo/plugins", "/abs"}));
  auto bad = parse_config("[plugins]\nfolders = []\n", "x.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("plugins.folders"), std::string::npos) << bad.error().message();
  auto not_strings = parse_config("[plugins]\npaths = [1]\n", "x.toml");
  ASSERT_FALSE(not_strings.ok());
}

TEST(PluginProvider, HashEmbedderGivesUnitVectorsThatFollowSharedWords) {
  auto runtime =
      runtime_with({spec("embed/hash", ModelTask::embed, "hashembed", "hash", {{"dimensions", 256}})});
  ASSERT_TRUE(runtime);
  auto model = runtime->embedding("embed/hash");
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  std::vector<std::string> texts = {"the cat sat on the mat", "The cat sat on the mat!", "my cat on my mat",
                                    "quantum chromodynamics lecture"};
  auto out = (*model)->embed(texts);
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  ASSERT_EQ(out->vectors.size(), 4u);
  EXPECT_EQ(out->dimensions, 256);
  for (const auto& v : out->vectors) {
    ASSERT_EQ(v.size(), 256u);
    EXPECT_NEAR(dot(v, v), 1.0, 1e-5);
  }
  EXPECT_NEAR(dot(out->vectors[0], out->vectors[1]), 1.0, 1e-6);  // case and punctuation do not count
  EXPECT_GT(dot(out->vectors[0], out->vectors[2]), dot(out->vectors[0], out->vectors[3]) + 0.2);
  EXPECT_EQ(out->usage.prompt_tokens, 6 + 6 + 5 + 3);  // words

  EmbedOptions sixteen;
  sixteen.dimensions = 16;
  auto shorter = (*model)->embed(texts, sixteen);
  ASSERT_TRUE(shorter.ok()) << shorter.error().to_string();
  EXPECT_EQ(shorter->vectors[0].size(), 16u);
  EmbedOptions too_many;
  too_many.dimensions = 257;
  auto too_long = (*model)->embed(texts, too_many);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code(), ErrorCode::invalid_input);
}

TEST(PluginProvider, HashRerankerPutsTheDocumentSharingTheQuerysWordsFirst) {
  auto runtime = runtime_with({spec("rerank/hash", ModelTask::rerank, "hashembed", "hash")});
  ASSERT_TRUE(runtime);
  auto model = runtime->reranker("rerank/hash");
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  std::vector<std::string> docs = {"bananas are yellow", "paris is the capital of france", "the sky is blue"};
  auto out = (*model)->rerank("what is the capital of france", docs, 2);
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  ASSERT_EQ(out->results.size(), 2u);
  EXPECT_EQ(out->results[0].index, 1u);
  EXPECT_GE(out->results[0].score, out->results[1].score);
}

TEST(PluginProvider, WrongModelAndBadOptionsKeepThePluginsCode) {
  auto runtime =
      runtime_with({spec("embed/none", ModelTask::embed, "hashembed", "nope"),
                    spec("embed/huge", ModelTask::embed, "hashembed", "hash", {{"dimensions", 100000}})});
  ASSERT_TRUE(runtime);
  auto none = runtime->embedding("embed/none");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::model_not_found) << none.error().to_string();
  EXPECT_NE(none.error().message().find("one model, \"hash\""), std::string::npos) << none.error().message();
  auto huge = runtime->embedding("embed/huge");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code(), ErrorCode::config_invalid) << huge.error().to_string();
}

TEST(PluginProvider, PluginErrorsKeepTheirCodeAndMessage) {
  auto runtime = runtime_with({spec("embed/failing", ModelTask::embed, "failing", "x")});
  ASSERT_TRUE(runtime);
  auto model = runtime->embedding("embed/failing");
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  std::vector<std::string> long_input = {"this input is longer than ten bytes"};
  auto out = (*model)->embed(long_input);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code(), ErrorCode::context_overflow);
  EXPECT_NE(out.error().message().find("plugin 'failing': embed failed: input too long"), std::string::npos)
      << out.error().message();
  std::vector<std::string> short_input = {"short"};
  auto odd = (*model)->embed(short_input);  // returns 42, which is no status
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.error().code(), ErrorCode::internal) << odd.error().to_string();
  EXPECT_NE(odd.error().message().find("status 42"), std::string::npos) << odd.error().message();
}

TEST(PluginProvider, ABadDimensionCountIsAnErrorNeverAVector) {
  auto runtime =
      runtime_with({spec("embed/bad", ModelTask::embed, "baddims", "x"),
                    spec("embed/zero", ModelTask::embed, "baddims", "x", {{"zero_dimensions", true}})});
  ASSERT_TRUE(runtime);
  auto model = runtime->embedding("embed/bad");
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  std::vector<std::string> input = {"a", "b"};
  auto out = (*model)->embed(input);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code(), ErrorCode::inference_failed);
  EXPECT_NE(out.error().message().find("vectors of 4 dimensions, its model has 8"), std::string::npos)
      << out.error().message();
  auto zero = runtime->embedding("embed/zero");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().code(), ErrorCode::model_load_failed);
  EXPECT_NE(zero.error().message().find("reported 0 dimensions"), std::string::npos)
      << zero.error().message();
}

TEST(PluginProvider, GeneratorStreamsPiecesAndStopsWhenTheCallbackSaysSo) {
  auto runtime = runtime_with({spec("gen/echo", ModelTask::generate, "echo", "x")});
  ASSERT_TRUE(runtime);
  auto model = runtime->generator("gen/echo");
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  GenerateRequest request;
  request.messages = {{"user", "one two three four five"}};
  request.options.max_tokens = 4;
  std::vector<std::string> pieces;
  auto all = (*model)->generate(request, [&](std::string_view p) {
    pieces.emplace_back(p);
    return true;
  });
  ASSERT_TRUE(all.ok()) << all.error().to_string();
  // The prompt's last line is "assistant:"; the echo plugin answers with it.
  EXPECT_EQ(all->text, "assistant: ");
  request.messages.clear();
  request.prompt = "one two three four five";
  pieces.clear();
  auto limited = (*model)->generate(request, [&](std::string_view p) {
    pieces.emplace_back(p);
    return true;
  });
  ASSERT_TRUE(limited.ok()) << limited.error().to_string();
  EXPECT_EQ(limited->text, "one two three four ");
  EXPECT_EQ(limited->finish_reason, FinishReason::length);
  EXPECT_EQ(pieces.size(), 4u);
  EXPECT_EQ(limited->usage.completion_tokens, 4);

  int seen = 0;
  auto stopped = (*model)->generate(request, [&](std::string_view) { return ++seen < 2; });
  ASSERT_TRUE(stopped.ok()) << stopped.error().to_string();
  EXPECT_EQ(stopped->finish_reason, FinishReason::cancelled);
  EXPECT_EQ(stopped->text, "one two ");
}

TEST(PluginProvider, StopTokenCancelsAGenerationMidway) {
  auto runtime = runtime_with({spec("gen/slow", ModelTask::generate, "echo", "x", {{"slow", true}})});
  ASSERT_TRUE(runtime);
  auto model = runtime->generator("gen/slow");
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  std::stop_source stop;
  GenerateRequest request;
  request.prompt = "a b c d e f g h i j k l m n o p q r s t u v w x y z";
  request.options.max_tokens = 100;
  request.cancel = stop.get_token();
  std::atomic<int> pieces{0};
  auto out = (*model)->generate(request, [&](std::string_view) {
    if (++pieces == 3) stop.request_stop();
    return true;
  });
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  EXPECT_EQ(out->finish_reason, FinishReason::cancelled);
  EXPECT_LT(pieces.load(), 26);
}

TEST(PluginProvider, CallsOnAPluginThatIsNotThreadSafeNeverOverlap) {
  auto runtime = runtime_with({spec("gen/echo", ModelTask::generate, "echo", "x")});
  ASSERT_TRUE(runtime);
  auto model = runtime->generator("gen/echo");
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      GenerateRequest request;
      request.prompt = "w1 w2 w3 w4 w5";
      for (int i = 0; i < 5; ++i) {
        auto out = (*model)->generate(request);
        if (!out.ok() || out->text != "w1 w2 w3 w4 w5 ") ++failures;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(PluginServe, EmbeddingsThroughXervoServeWhileBadPluginsAreReported) {
  auto dir = fresh_dir("serve");
  auto garbage = garbage_dir();
  {
    std::ofstream config(dir / "xervo.toml");
    config << "[plugins]\npaths = [\"" << kPluginDir.string() << "\", \"" << garbage.string() << "\"]\n"
           << "[providers.hashembed]\ndimensions = 32\n"
           << "[models.\"embed/hash\"]\ntask = \"embed\"\nprovider = \"hashembed\"\nmodel = \"hash\"\n"
           << "[models.\"chat/echo\"]\ntask = \"generate\"\nprovider = \"echo\"\nmodel = \"x\"\n";
  }
  ::setenv("XERVO_HOME", (dir / "home").c_str(), 1);  // the child's library, keys and audit log
  testing::XervoServe server(XERVO_BIN, dir / "xervo.toml");
  httplib::Client client("127.0.0.1", server.port());
  client.set_tcp_nodelay(true);
  client.set_read_timeout(30, 0);
  nlohmann::json body = {{"model", "embed/hash"}, {"input", {"the cat sat", "on the mat"}}};
  auto res = client.Post("/v1/embeddings", body.dump(), "application/json");
  ASSERT_TRUE(res) << server.log();
  ASSERT_EQ(res->status, 200) << res->body << server.log();
  auto answer = nlohmann::json::parse(res->body);
  ASSERT_EQ(answer["data"].size(), 2u);
  ASSERT_EQ(answer["data"][0]["embedding"].size(), 32u);  // [providers.hashembed] dimensions

  // The same vectors as the plugin computes in-process.
  auto runtime =
      runtime_with({spec("embed/hash", ModelTask::embed, "hashembed", "hash", {{"dimensions", 32}})});
  auto local = (*runtime->embedding("embed/hash"))->embed(std::vector<std::string>{"the cat sat"});
  ASSERT_TRUE(local.ok());
  for (size_t i = 0; i < 32; ++i)
    EXPECT_NEAR(answer["data"][0]["embedding"][i].get<double>(), local->vectors[0][i], 1e-6);

  nlohmann::json chat = {{"model", "chat/echo"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  auto chat_res = client.Post("/v1/chat/completions", chat.dump(), "application/json");
  ASSERT_TRUE(chat_res) << server.log();
  ASSERT_EQ(chat_res->status, 200) << chat_res->body;
  EXPECT_NE(chat_res->body.find("assistant:"), std::string::npos) << chat_res->body;

  const std::string log = server.log();
  EXPECT_NE(log.find("bad_abi.so"), std::string::npos) << log;
  EXPECT_NE(log.find("garbage.so"), std::string::npos) << log;
  auto code = server.terminate();
  ASSERT_TRUE(code.has_value()) << server.log();
  EXPECT_EQ(*code, 0) << server.log();
}

}  // namespace
}  // namespace xervo
