// The model-id policy over HTTP: which `model` names a client may send (aliases and library models
// always; paths, hf: pulls and PROVIDER:MODEL ids only as allow_model_ids says, per key or scope),
// refusals that say nothing about the file system and leave nothing behind, bounded metrics labels
// and log lines that client input cannot forge.
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

#include "core/log.h"
#include "server/model_policy.h"
#include "server_fixture.h"
#include "xervo/library.h"

namespace xervo::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Collects every log message (the payload, without spdlog's prefix) while it is installed as the
// default logger. Install it before the server starts and drop it after the server stopped.
class CapturedLog : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  // Waits for a message containing `needle` (the access log line comes after the response).
  bool wait_for(const std::string& needle) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] {
      for (const auto& m : messages_)
        if (m.find(needle) != std::string::npos) return true;
      return false;
    });
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    {
      std::lock_guard lock(mu_);
      messages_.emplace_back(msg.payload.data(), msg.payload.size());
    }
    cv_.notify_all();
  }
  void flush_() override {}

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> messages_;  // GUARDED_BY(mu_)
};

struct LogCapture {
  std::shared_ptr<CapturedLog> sink = std::make_shared<CapturedLog>();
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
  LogCapture() {
    init_logging();  // its first call (RuntimeBuilder makes one) would replace the capture
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous); }
};

// A library that holds the given ids (as find() resolves them); everything else is unsupported.
class FakeLibrary : public ModelLibrary {
 public:
  explicit FakeLibrary(std::set<std::string> ids) : ids_(std::move(ids)) {}
  const LibraryOptions& options() const override { return options_; }
  Result<LibraryModel> find(std::string_view model_id) override {
    if (!ids_.count(std::string(model_id)))
      return Error(ErrorCode::model_not_found, std::string(model_id) + " is not in the library");
    LibraryModel m;
    m.id = std::string(model_id);
    return m;
  }
  Result<std::vector<LibraryModel>> search(const LibraryQuery&) override { return no(); }
  Result<LibraryModel> get(std::string_view) override { return no(); }
  Result<LibraryModel> set_overrides(std::string_view, const nlohmann::json&) override { return no(); }
  Result<void> remove(std::string_view) override { return no(); }
  Result<std::vector<VerifyOutcome>> verify(std::string_view) override { return no(); }
  std::vector<ImportOutcome> import_paths(const std::vector<fs::path>&, const ImportOptions&) override {
    return {};
  }
  Result<bool> file_matches_record(const LibraryModel&) override { return no(); }
  Result<LibraryModel> pull(std::string_view, const PullProgressCallback&, std::stop_token) override {
    return no();
  }
  Result<std::vector<HubModelInfo>> hub_search(std::string_view, int) override { return no(); }
  Result<std::vector<MappingSyncReport>> map_sync(std::string_view) override { return no(); }
  Result<std::vector<MappingStatusEntry>> map_status(std::string_view) override { return no(); }

 private:
  static Error no() { return Error(ErrorCode::internal, "not supported by the fake library"); }
  std::set<std::string> ids_;
  LibraryOptions options_;
};

class ModelPolicyTest : public ServerTest {
 protected:
  fs::path dir;  // scratch folder: models/ is what tests allow, outside/ is what they must not reach

  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "xervo-policy-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir = fs::canonical(tmpl);
    fs::create_directories(dir / "models" / "sub");
    fs::create_directories(dir / "outside");
    touch(dir / "models" / "m.gguf");
    touch(dir / "models" / "sub" / "n.gguf");
    touch(dir / "outside" / "secret.gguf");
    touch(dir / "outside" / "shadow");
  }
  void TearDown() override {
    ServerTest::TearDown();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  static void touch(const fs::path& p) { std::ofstream(p) << "GGUF"; }

  // Like start(), but the test provider also takes the ids that name no provider (paths, hf:), as
  // llamacpp does in `xervo serve`, so an id the policy lets through really loads.
  void start_local() {
    RuntimeBuilder builder;
    builder.add_provider(std::make_shared<TestProvider>(probe));
    builder.set_default_provider("test");
    builder.add_spec(test_spec("embed/test", ModelTask::embed, "echo"));
    builder.add_spec(test_spec("chat/test", ModelTask::generate, "stream"));
    auto built = builder.build();
    ASSERT_TRUE(built.ok()) << built.error().to_string();
    runtime = *built;
    auto started = Server::start(runtime, options);
    ASSERT_TRUE(started.ok()) << started.error().to_string();
    server = std::move(*started);
  }

  httplib::Result embed(const std::string& model, const httplib::Headers& headers = {}) {
    return post("/v1/embeddings", {{"model", model}, {"input", "x"}}, headers);
  }
  int embed_status(const std::string& model, const httplib::Headers& headers = {}) {
    auto r = embed(model, headers);
    return r ? r->status : -1;
  }

  // The response body with `name` replaced, to compare the refusals of two names.
  static std::string body_without(const httplib::Result& r, const std::string& name) {
    std::string body = r ? r->body : "<no response>";
    for (size_t at = body.find(name); at != std::string::npos; at = body.find(name, at))
      body.replace(at, name.size(), "NAME");
    return body;
  }

  static httplib::Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }
};

TEST_F(ModelPolicyTest, ARefusedPathAnswersTheSameWhetherTheFileExistsOrNot) {
  start_local();
  const std::string existing = (dir / "outside" / "secret.gguf").string();
  const std::string missing = (dir / "outside" / "missing.gguf").string();
  auto a = embed(existing);
  auto b = embed(missing);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->status, 404);
  EXPECT_EQ(b->status, 404);
  EXPECT_EQ(error_code(a), "alias_not_found");
  EXPECT_EQ(body_without(a, existing), body_without(b, missing));
  EXPECT_NE(error_message(a).find("allow_model_ids"), std::string::npos) << a->body;
  // A file that is no model, and a missing one without the .gguf ending: the same again.
  auto c = embed((dir / "outside" / "shadow").string());
  auto d = embed((dir / "outside" / "no-shadow").string());
  EXPECT_EQ(body_without(c, (dir / "outside" / "shadow").string()), body_without(a, existing));
  EXPECT_EQ(body_without(d, (dir / "outside" / "no-shadow").string()), body_without(a, existing));
  EXPECT_EQ(probe->loads.load(), 0);
}

TEST_F(ModelPolicyTest, RefusedNamesLeaveNoRegistryRecord) {
  start_local();
  for (const auto& name : {(dir / "outside" / "secret.gguf").string(), std::string("hf:org/repo"),
                           std::string("test:echo"), std::string("library:local/x"), std::string("nope")})
    EXPECT_EQ(embed_status(name), 404) << name;
  EXPECT_TRUE(runtime->models().empty());
  auto list = json::parse(get("/v1/runtime/models")->body);
  EXPECT_TRUE(list["models"].empty()) << list.dump();
  EXPECT_EQ(probe->loads.load(), 0);
  EXPECT_NE(get("/metrics")->body.find("xervo_rejected_requests_total{reason=\"model_id\"} 5"),
            std::string::npos);
}

TEST_F(ModelPolicyTest, FilesUnderAnAllowedFolderAreServed) {
  options.allow_model_ids.paths = {dir / "models"};
  start_local();
  EXPECT_EQ(embed_status((dir / "models" / "m.gguf").string()), 200);
  EXPECT_EQ(embed_status((dir / "models" / "sub" / "n.gguf").string()), 200);
  EXPECT_EQ(embed_status((dir / "models" / "." / "m.gguf").string()), 200);
  EXPECT_EQ(probe->loads.load(), 3);  // "./m.gguf" is another id (and key) for the same file
  // Still refused: outside the folder, missing inside it, the folder itself, a relative path.
  EXPECT_EQ(embed_status((dir / "outside" / "secret.gguf").string()), 404);
  EXPECT_EQ(embed_status((dir / "models" / "missing.gguf").string()), 404);
  EXPECT_EQ(embed_status((dir / "models").string()), 404);
  EXPECT_EQ(embed_status("models/m.gguf"), 404);
}

TEST_F(ModelPolicyTest, DotDotCannotLeaveTheAllowedFolder) {
  options.allow_model_ids.paths = {dir / "models"};
  start_local();
  const std::string escape = (dir / "models" / ".." / "outside" / "secret.gguf").string();
  const std::string missing = (dir / "models" / ".." / "outside" / "missing.gguf").string();
  auto a = embed(escape);
  auto b = embed(missing);
  EXPECT_EQ(a->status, 404);
  EXPECT_EQ(body_without(a, escape), body_without(b, missing));
  // Even a ".." that stays inside is refused: the rule is simple to state and to check.
  EXPECT_EQ(embed_status((dir / "models" / "sub" / ".." / "m.gguf").string()), 404);
  EXPECT_EQ(probe->loads.load(), 0);
}

TEST_F(ModelPolicyTest, SymlinksCannotLeaveTheAllowedFolder) {
  fs::create_symlink(dir / "outside" / "secret.gguf", dir / "models" / "link.gguf");
  fs::create_directory_symlink(dir / "outside", dir / "models" / "linked-dir");
  fs::create_symlink(dir / "models" / "m.gguf", dir / "models" / "inside.gguf");
  options.allow_model_ids.paths = {dir / "models"};
  start_local();
  EXPECT_EQ(embed_status((dir / "models" / "link.gguf").string()), 404);
  EXPECT_EQ(embed_status((dir / "models" / "linked-dir" / "secret.gguf").string()), 404);
  EXPECT_EQ(probe->loads.load(), 0);
  // A link that stays inside the folder is fine.
  EXPECT_EQ(embed_status((dir / "models" / "inside.gguf").string()), 200);
}

TEST_F(ModelPolicyTest, AnAllowedFolderThatIsASymlinkWorksByEitherName) {
  fs::create_directory_symlink(dir / "models", dir / "models-link");
  options.allow_model_ids.paths = {dir / "models-link"};
  start_local();
  EXPECT_EQ(embed_status((dir / "models-link" / "m.gguf").string()), 200);
  EXPECT_EQ(embed_status((dir / "models" / "sub" / "n.gguf").string()), 200);
  EXPECT_EQ(embed_status((dir / "outside" / "secret.gguf").string()), 404);
}

TEST_F(ModelPolicyTest, HubPullsAreRefusedUnlessAllowed) {
  start_local();
  EXPECT_EQ(embed_status("hf:org/repo"), 404);
  EXPECT_EQ(probe->loads.load(), 0);
  server.reset();
  options.allow_model_ids.hf = true;
  start_local();
  EXPECT_EQ(embed_status("hf:org/repo"), 200);
  EXPECT_EQ(probe->loads.load(), 1);
}

TEST_F(ModelPolicyTest, ProviderIdsAreRefusedUnlessTheProviderIsListed) {
  start_local();
  EXPECT_EQ(embed_status("test:echo"), 404);
  EXPECT_EQ(probe->loads.load(), 0);
  server.reset();
  options.allow_model_ids.providers = {"openai"};
  start_local();
  EXPECT_EQ(embed_status("test:echo"), 404);
  server.reset();
  options.allow_model_ids.providers = {"test"};
  start_local();
  EXPECT_EQ(embed_status("test:echo"), 200);
  EXPECT_EQ(probe->loads.load(), 1);
}

TEST_F(ModelPolicyTest, LibraryModelsAreAlwaysAllowed) {
  options.library = std::make_shared<FakeLibrary>(std::set<std::string>{"library:local/m", "hf:org/pulled"});
  start_local();
  EXPECT_EQ(embed_status("library:local/m"), 200);
  EXPECT_EQ(embed_status("hf:org/pulled"), 200);  // already in the library: no download needed
  EXPECT_EQ(embed_status("library:local/other"), 404);
  EXPECT_EQ(embed_status("hf:org/not-pulled"), 404);
  EXPECT_EQ(probe->loads.load(), 2);
}

TEST_F(ModelPolicyTest, EachKeyGetsItsOwnAllowance) {
  auto key = [](std::string name, std::string scope) {
    ApiKey k;
    k.name = name;
    k.sha256 = sha256_hex("key-" + name);
    k.scopes = {std::move(scope)};
    return k;
  };
  ApiKey app = key("app", "inference");  // the server's allowance: none
  ApiKey ops = key("ops", "admin");      // the admin allowance: provider "test"
  ApiKey lab = key("lab", "inference");  // its own: Hub pulls only
  lab.allow_model_ids = ModelIdAllowance{.hf = true};
  ApiKey root = key("root", "admin");  // its own wins over the admin allowance
  root.allow_model_ids = ModelIdAllowance{.paths = {dir / "models"}};
  options.keys = {app, ops, lab, root};
  options.admin_allow_model_ids = ModelIdAllowance{.providers = {"test"}};
  start_local();
  const std::string file = (dir / "models" / "m.gguf").string();
  EXPECT_EQ(embed_status("test:echo", bearer("key-app")), 404);
  EXPECT_EQ(embed_status("hf:org/repo", bearer("key-app")), 404);
  EXPECT_EQ(embed_status("embed/test", bearer("key-app")), 200);
  EXPECT_EQ(embed_status("test:echo", bearer("key-ops")), 200);
  EXPECT_EQ(embed_status("hf:org/repo", bearer("key-ops")), 404);
  EXPECT_EQ(embed_status("hf:org/repo", bearer("key-lab")), 200);
  EXPECT_EQ(embed_status("test:echo", bearer("key-lab")), 404);
  EXPECT_EQ(embed_status(file, bearer("key-root")), 200);
  EXPECT_EQ(embed_status("test:echo", bearer("key-root")), 404);
  EXPECT_EQ(embed_status(file, bearer("key-ops")), 404);
}

// The number of series in a /metrics body (every line that is not a comment).
size_t series(const std::string& metrics) {
  std::istringstream in(metrics);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty() && line[0] != '#';
  return n;
}

std::string random_name(std::mt19937_64& rng) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 40; ++i) s += kAlphabet[rng() % 36];
  return s;
}

TEST_F(ModelPolicyTest, MetricsStayBoundedWhateverNamesClientsSend) {
  options.allow_model_ids.hf = true;  // so that accepted names load and leave records too
  start_local();
  std::mt19937_64 rng(12345);
  // One keep-alive connection: the server records each request (metrics come from its access-log
  // step, after the response) before it reads the next one, so each snapshot sees all before it.
  auto c = client();
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);  // else each request of the connection waits out a delayed ACK
  auto status = [&](const char* path, const json& body) {
    auto r = c->Post(path, body.dump(), "application/json");
    return r ? r->status : -1;
  };
  auto embed_on = [&](const std::string& model) {
    return status("/v1/embeddings", {{"model", model}, {"input", "x"}});
  };
  auto metrics = [&] {
    auto r = c->Get("/metrics");
    return r ? r->body : std::string();
  };
  auto round = [&] {
    EXPECT_EQ(embed_on("embed/test"), 200);
    EXPECT_EQ(embed_on("hf:org/" + random_name(rng)), 200);
    EXPECT_EQ(embed_on("/nowhere/" + random_name(rng) + ".gguf"), 404);
    EXPECT_EQ(embed_on(random_name(rng)), 404);
    EXPECT_EQ(
        status("/v1/chat/completions", {{"model", "hf:org/" + random_name(rng)},
                                        {"max_tokens", 2},
                                        {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}}),
        200);
  };
  round();
  metrics();  // the series of /metrics itself exist from here on
  const std::string before = metrics();
  for (int i = 0; i < 60; ++i) round();
  const std::string after = metrics();
  EXPECT_EQ(series(after), series(before)) << after;
  EXPECT_NE(after.find("model=\"other\""), std::string::npos);
  EXPECT_NE(after.find("key=\"other\""), std::string::npos);
  EXPECT_NE(after.find("xervo_time_to_first_token_seconds_count{model=\"other\"} 61"), std::string::npos);
  EXPECT_NE(after.find("xervo_tokens_total{model=\"embed/test\",direction=\"in\"} 61"), std::string::npos);
  EXPECT_EQ(after.find("hf:org/"), std::string::npos);
  EXPECT_EQ(after.find("/nowhere/"), std::string::npos);
  EXPECT_EQ(runtime->models().size(), 1u + 2u * 61u);  // the runtime has them; the metrics do not
}

TEST_F(ModelPolicyTest, ClientInputCannotForgeLogLines) {
  LogCapture capture;
  start_local();
  const std::string forged = "embed/x\nFORGED refused nothing";
  EXPECT_EQ(embed_status(forged, {{"X-Request-Id", "log-model"}}), 404);
  EXPECT_EQ(get("/v1/nothing%0aFORGED%0d%22here", {{"X-Request-Id", "log-path"}})->status, 404);
  ASSERT_TRUE(capture.sink->wait_for("\"POST\" \"/v1/embeddings\" 404")) << "no access log line";
  ASSERT_TRUE(capture.sink->wait_for("\"/v1/nothing")) << "no access log line";
  server.reset();  // no thread logs while the capture goes away
  bool refusal = false, path = false;
  for (const auto& m : capture.sink->messages()) {
    EXPECT_EQ(m.find_first_of("\r\n"), std::string::npos) << m;
    if (m.starts_with("[log-model] refused model \"embed/x\\nFORGED refused nothing\"")) refusal = true;
    if (m.starts_with("[log-path]"))
      path = m.find("\"/v1/nothing\\nFORGED\\r\\\"here\"") != std::string::npos;
  }
  EXPECT_TRUE(refusal) << "the refused id is not in the log";
  EXPECT_TRUE(path) << "the escaped path is not in the access log";
}

TEST(ModelIdPolicy, LocalProviderIdsAreCheckedAsPaths) {
  server::ModelIdCatalog catalog;
  catalog.providers = {"llamacpp", "openai"};
  ModelIdAllowance allowance;
  allowance.providers = {"openai"};
  auto d = server::check_model_id("llamacpp:/etc/passwd", allowance, catalog);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.kind, server::ModelIdKind::path);
  EXPECT_FALSE(server::check_model_id("llamacpp:hf:org/repo", allowance, catalog).allowed);
  EXPECT_TRUE(server::check_model_id("openai:gpt-4o-mini", allowance, catalog).allowed);
  EXPECT_FALSE(server::check_model_id("gemini:x", allowance, catalog).allowed);  // not registered: a path
  allowance.hf = true;
  EXPECT_TRUE(server::check_model_id("llamacpp:hf:org/repo", allowance, catalog).allowed);
}

// `auto` picks (and may pull) a model from the catalog: only an operator's alias may say it.
TEST(ModelIdPolicy, AClientCannotNameTheAutoModelEvenWithEverythingAllowed) {
  server::ModelIdCatalog catalog;
  catalog.providers = {"llamacpp", "openai"};
  ModelIdAllowance allowance;
  allowance.paths = {"/"};
  allowance.hf = true;
  allowance.providers = {"openai"};
  for (const char* id : {"auto", "auto:embed", "llamacpp:auto", "llamacpp:auto:generate"})
    EXPECT_FALSE(server::check_model_id(id, allowance, catalog).allowed) << id;
  catalog.aliases = {"auto"};  // an operator's alias of that name is an alias like any other
  EXPECT_TRUE(server::check_model_id("auto", allowance, catalog).allowed);
}

TEST(ModelIdPolicy, ControlCharactersAndHugeNamesAreRefusedUnread) {
  server::ModelIdCatalog catalog;
  ModelIdAllowance allowance;
  allowance.paths = {"/"};
  allowance.hf = true;
  EXPECT_FALSE(server::check_model_id(std::string("hf:a/b\0c", 8), allowance, catalog).allowed);
  EXPECT_FALSE(server::check_model_id("hf:a/b\nc", allowance, catalog).allowed);
  EXPECT_FALSE(server::check_model_id("hf:" + std::string(5000, 'a'), allowance, catalog).allowed);
  EXPECT_TRUE(server::check_model_id("hf:a/b", allowance, catalog).allowed);
  // The refusal names the id escaped and bounded.
  auto e = server::refused_model_id(std::string(5000, 'a') + "\n", {"embed/x"});
  EXPECT_LT(e.message().size(), 1000u);
  EXPECT_EQ(e.code(), ErrorCode::alias_not_found);
}

TEST(ModelIdPolicy, ConfigSetsTheServerTheAdminAndEachKeyAllowance) {
  auto o = parse_server_options(json::parse(R"({
    "allow_model_ids": {"paths": ["/srv/models/", "/data//more"], "hf": true, "providers": ["openai"]},
    "admin_allow_model_ids": {"providers": ["openai", "gemini"]},
    "auth": {"keys": [
      {"name": "lab", "sha256": ")" + std::string(64, 'a') +
                                            R"(", "scopes": ["inference"],
       "allow_model_ids": {"paths": ["/lab"]}},
      {"name": "app", "sha256": ")" + std::string(64, 'b') +
                                            R"(", "scopes": ["inference"]}]}
  })"));
  ASSERT_TRUE(o.ok()) << o.error().to_string();
  EXPECT_EQ(o->allow_model_ids.paths, (std::vector<fs::path>{"/srv/models/", "/data/more"}));
  EXPECT_TRUE(o->allow_model_ids.hf);
  EXPECT_EQ(o->allow_model_ids.providers, std::vector<std::string>{"openai"});
  ASSERT_TRUE(o->admin_allow_model_ids);
  EXPECT_EQ(o->admin_allow_model_ids->providers, (std::vector<std::string>{"openai", "gemini"}));
  EXPECT_FALSE(o->admin_allow_model_ids->hf);
  ASSERT_TRUE(o->keys[0].allow_model_ids);
  EXPECT_EQ(o->keys[0].allow_model_ids->paths, std::vector<fs::path>{"/lab"});
  EXPECT_FALSE(o->keys[1].allow_model_ids);
  // Nothing is allowed without the keys.
  auto plain = parse_server_options(json::object());
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->allow_model_ids.paths.empty());
  EXPECT_FALSE(plain->allow_model_ids.hf);
  EXPECT_TRUE(plain->allow_model_ids.providers.empty());
  EXPECT_FALSE(plain->admin_allow_model_ids);
}

TEST(ModelIdPolicy, BadAllowancesAreConfigErrorsNamingTheKey) {
  auto error_of = [](const char* text) {
    auto o = parse_server_options(json::parse(text));
    return o.ok() ? std::string("<accepted>") : o.error().message();
  };
  EXPECT_NE(error_of(R"({"allow_model_ids": {"path": ["/m"]}})").find("allow_model_ids.path: unknown key"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"allow_model_ids": {"paths": ["models"]}})").find("not an absolute folder"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"allow_model_ids": {"paths": ["/m/../etc"]}})").find("'..'"), std::string::npos);
  EXPECT_NE(error_of(R"({"allow_model_ids": {"hf": "yes"}})").find("allow_model_ids.hf"), std::string::npos);
  EXPECT_NE(error_of(R"({"admin_allow_model_ids": {"providers": ["llamacpp"]}})").find("opens local files"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"allow_model_ids": ["/m"]})").find("must be a table"), std::string::npos);
  EXPECT_NE(error_of(R"({"auth": {"keys": [{"name": "k", "sha256": "x", "scopes": ["admin"],
                                             "allow_model_ids": {"hf": 1}}]}})")
                .find("auth.keys.allow_model_ids.hf"),
            std::string::npos);
}

}  // namespace
}  // namespace xervo::testing
