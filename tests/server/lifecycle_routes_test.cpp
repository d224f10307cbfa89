// The lifecycle management API: pin, unpin, keep-alive, swap (and its model-id policy), rollback and
// config reload under the admin scope; per-request keep_alive on the inference routes; what
// GET /v1/runtime/models and /metrics show of the memory budget; insufficient_memory as 503.
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "server/config_reload.h"
#include "server_fixture.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

httplib::Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

// A model key as a Prometheus label value shows it (quotes escaped).
std::string escape_key(const std::string& key) {
  std::string out;
  for (char c : key) out += c == '"' ? std::string("\\\"") : std::string(1, c);
  return out;
}

const json* find_model(const json& list, const std::string& alias) {
  for (const auto& m : list["models"])
    for (const auto& a : m["aliases"])
      if (a == alias) return &m;
  return nullptr;
}

const json* find_alias(const json& list, const std::string& alias) {
  for (const auto& a : list["aliases"])
    if (a["alias"] == alias) return &a;
  return nullptr;
}

class LifecycleTest : public ServerTest {
 protected:
  json runtime_models(const httplib::Headers& headers = {}) {
    auto r = get("/v1/runtime/models", headers);
    EXPECT_TRUE(r);
    if (!r) return json::object();
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body);
  }
  void load(const std::string& alias) {
    auto r = post("/v1/runtime/models/load", {{"model", alias}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
  }
  std::string metrics() {
    auto r = get("/metrics");
    return r ? r->body : "";
  }
};

// With keys: "ops" (admin; its allowance names provider "test") and "app" (inference).
class LifecycleAuthTest : public LifecycleTest {
 protected:
  void SetUp() override {
    for (const auto& [name, scope] : {std::pair{"app", "inference"}, std::pair{"ops", "admin"}}) {
      ApiKey key;
      key.name = name;
      key.sha256 = sha256_hex(std::string(name) + "-key");
      key.scopes = {scope};
      options.keys.push_back(key);
    }
    ModelIdAllowance admin;
    admin.providers = {"test"};
    options.admin_allow_model_ids = admin;
  }
  const httplib::Headers ops = bearer("ops-key");
  const httplib::Headers app = bearer("app-key");
};

TEST_F(LifecycleTest, PinAndUnpinShowOnTheModel) {
  start();
  load("embed/test");
  auto pin = post("/v1/runtime/models/pin", {{"model", "embed/test"}});
  ASSERT_TRUE(pin);
  ASSERT_EQ(pin->status, 200) << pin->body;
  EXPECT_EQ(json::parse(pin->body)["pinned"], true);
  auto list = runtime_models();
  const json* m = find_model(list, "embed/test");
  ASSERT_NE(m, nullptr) << list.dump();
  EXPECT_EQ((*m)["pinned"], true);
  EXPECT_TRUE((*m)["expires_at_ms"].is_null());  // a pinned model never expires

  ASSERT_EQ(post("/v1/runtime/models/unpin", {{"model", "embed/test"}})->status, 200);
  list = runtime_models();
  EXPECT_EQ((*find_model(list, "embed/test"))["pinned"], false);

  auto unknown = post("/v1/runtime/models/pin", {{"model", "embed/none"}});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(error_code(unknown), "alias_not_found");
  EXPECT_EQ(post("/v1/runtime/models/pin", json::object())->status, 400);  // no "model"
}

TEST_F(LifecycleTest, KeepAliveRouteSetsTheExpiry) {
  start();
  load("embed/test");
  auto r = post("/v1/runtime/models/keep_alive", {{"model", "embed/test"}, {"keep_alive", "10m"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["keep_alive_ms"], 600000);
  auto list = runtime_models();
  const json* m = find_model(list, "embed/test");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ((*m)["keep_alive_ms"], 600000);
  ASSERT_TRUE((*m)["expires_at_ms"].is_number()) << m->dump();  // idle and not pinned: it expires
  EXPECT_GT((*m)["expires_at_ms"].get<int64_t>(), list["now_ms"].get<int64_t>());

  ASSERT_EQ(post("/v1/runtime/models/keep_alive", {{"model", "embed/test"}, {"keep_alive", -1}})->status,
            200);
  EXPECT_TRUE((*find_model(runtime_models(), "embed/test"))["expires_at_ms"].is_null());

  for (const json& bad : {json("soon"), json(true), json::object()}) {
    auto b = post("/v1/runtime/models/keep_alive", {{"model", "embed/test"}, {"keep_alive", bad}});
    ASSERT_TRUE(b);
    EXPECT_EQ(b->status, 400) << bad.dump();
    EXPECT_EQ(error_code(b), "invalid_input");
    EXPECT_NE(error_message(b).find("keep_alive"), std::string::npos) << error_message(b);
  }
  EXPECT_EQ(post("/v1/runtime/models/keep_alive", {{"model", "embed/test"}})->status, 400);
}

TEST_F(LifecycleTest, SwapRePointsAnAliasAndRollbackReturnsIt) {
  start();
  // "gated" is the model of chat/gated: a configured target needs no allowance.
  auto swap = post("/v1/runtime/models/swap", {{"alias", "chat/test"}, {"model", "gated"}});
  ASSERT_TRUE(swap);
  ASSERT_EQ(swap->status, 200) << swap->body;
  auto s = json::parse(swap->body);
  EXPECT_EQ(s["alias"], "chat/test");
  EXPECT_NE(s["from"].get<std::string>().find("stream"), std::string::npos) << s.dump();
  EXPECT_NE(s["to"].get<std::string>().find("gated"), std::string::npos) << s.dump();
  EXPECT_TRUE(s.contains("was_loaded") && s.contains("drained"));

  auto list = runtime_models();
  const json* alias = find_alias(list, "chat/test");
  ASSERT_NE(alias, nullptr);
  EXPECT_EQ((*alias)["model"], "gated");
  ASSERT_GE((*alias)["history"].size(), 2u) << alias->dump();
  const json& last = (*alias)["history"].back();
  EXPECT_EQ(last["model"], "gated");
  EXPECT_EQ(last["action"], "swap");
  EXPECT_EQ(last["provider"], "test");
  EXPECT_GT(last["at_ms"].get<int64_t>(), 0);

  auto back = post("/v1/runtime/models/rollback", {{"alias", "chat/test"}});
  ASSERT_TRUE(back);
  ASSERT_EQ(back->status, 200) << back->body;
  EXPECT_EQ(json::parse(back->body)["to"], s["from"]);
  list = runtime_models();
  EXPECT_EQ((*find_alias(list, "chat/test"))["model"], "stream");
  EXPECT_EQ((*find_alias(list, "chat/test"))["history"].back()["action"], "rollback");
  // Served by the model it points at again: "stream" emits max_tokens pieces.
  auto chat = post(
      "/v1/chat/completions",
      {{"model", "chat/test"}, {"max_tokens", 2}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  ASSERT_EQ(chat->status, 200) << chat->body;

  EXPECT_EQ(post("/v1/runtime/models/swap", {{"alias", "chat/none"}, {"model", "gated"}})->status, 404);
  EXPECT_EQ(post("/v1/runtime/models/swap", {{"alias", "chat/test"}})->status, 400);  // no "model"
  EXPECT_EQ(post("/v1/runtime/models/rollback", {{"alias", "chat/none"}})->status, 404);
}

TEST_F(LifecycleTest, SwapToAModelNoAllowanceNamesIsRefusedAndChangesNothing) {
  auto remote = test_spec("embed/remote", ModelTask::embed, "echo");
  remote.options = {{"base_url", "http://configured.example"}};
  start({remote});
  for (const json& body : {json{{"alias", "chat/test"}, {"model", "brand-new"}},
                           json{{"alias", "chat/test"}, {"model", "/etc/passwd"}}}) {
    auto r = post("/v1/runtime/models/swap", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << body.dump() << " " << r->body;
  }
  auto unknown_provider =
      post("/v1/runtime/models/swap", {{"alias", "chat/test"}, {"model", "x"}, {"provider", "nope"}});
  EXPECT_EQ(unknown_provider->status, 404);
  EXPECT_EQ(error_code(unknown_provider), "provider_not_found");
  // Options that would send the operator's key elsewhere are refused even for a configured model.
  auto redirect =
      post("/v1/runtime/models/swap",
           {{"alias", "chat/test"}, {"model", "gated"}, {"options", {{"base_url", "http://evil"}}}});
  EXPECT_EQ(redirect->status, 403);
  EXPECT_EQ(error_code(redirect), "forbidden");
  // The alias's own endpoint stays with its provider: another provider would send its key there.
  auto carried =
      post("/v1/runtime/models/swap", {{"alias", "embed/remote"}, {"model", "echo"}, {"provider", "other"}});
  EXPECT_EQ(carried->status, 403) << carried->body;
  auto kept = post("/v1/runtime/models/swap", {{"alias", "embed/remote"}, {"model", "gated"}});
  EXPECT_EQ(kept->status, 200) << kept->body;  // same provider, endpoint unchanged

  auto list = runtime_models();
  EXPECT_EQ((*find_alias(list, "chat/test"))["model"], "stream");
  EXPECT_EQ((*find_alias(list, "chat/test"))["history"].size(), 1u);
  for (const auto& m : list["models"]) EXPECT_NE(m["model"], "brand-new") << m.dump();
  EXPECT_NE(metrics().find("xervo_rejected_requests_total{reason=\"model_id\"} 2"), std::string::npos);
}

TEST_F(LifecycleAuthTest, AnAdminSwapsToWhatItsAllowanceNames) {
  start();
  auto r = client()->Post("/v1/runtime/models/swap", ops,
                          json{{"alias", "chat/test"}, {"model", "brand-new"}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto list = runtime_models(ops);
  const json* alias = find_alias(list, "chat/test");
  EXPECT_EQ((*alias)["model"], "brand-new");
  EXPECT_EQ((*alias)["history"].back()["by"], "ops");
}

TEST_F(LifecycleAuthTest, EveryLifecycleRouteNeedsTheAdminScope) {
  start();
  const std::vector<std::pair<std::string, json>> routes = {
      {"/v1/runtime/models/pin", {{"model", "embed/test"}}},
      {"/v1/runtime/models/unpin", {{"model", "embed/test"}}},
      {"/v1/runtime/models/keep_alive", {{"model", "embed/test"}, {"keep_alive", 0}}},
      {"/v1/runtime/models/swap", {{"alias", "chat/test"}, {"model", "gated"}}},
      {"/v1/runtime/models/rollback", {{"alias", "chat/test"}}},
      {"/v1/runtime/reload", json::object()}};
  for (const auto& [path, body] : routes) {
    auto refused = client()->Post(path.c_str(), app, body.dump(), "application/json");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 403) << path;
    EXPECT_EQ(error_code(refused), "forbidden") << path;
    auto anonymous = post(path, body);
    EXPECT_EQ(anonymous->status, 401) << path;
  }
  EXPECT_EQ(get("/v1/runtime/models", app)->status, 403);
  auto list = runtime_models(ops);
  EXPECT_EQ((*find_alias(list, "chat/test"))["model"], "stream");  // nothing was swapped
  EXPECT_EQ((*find_alias(list, "embed/test"))["pin"], false);
}

// The fixture's aliases plus `extra` as xervo.toml text.
std::string config_text(const std::string& extra) {
  std::string text;
  for (const auto& s : base_specs())
    text += "[models.\"" + s.alias + "\"]\ntask = \"" + std::string(to_string(s.task)) +
            "\"\nprovider = \"test\"\nmodel = \"" + s.model + "\"\n\n";
  return text + extra;
}

struct TempFile {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("xervo-reload-" + std::to_string(::getpid()) + ".toml");
  void write(const std::string& text) const { std::ofstream(path) << text; }
  ~TempFile() { std::filesystem::remove(path); }
};

std::vector<std::string> alias_names(const json& list) {
  std::vector<std::string> names;
  for (const auto& a : list["aliases"])
    names.push_back(a["alias"].get<std::string>() + "=" + a["model"].get<std::string>());
  return names;
}

TEST_F(LifecycleTest, ReloadAppliesTheFileAndABrokenOneChangesNothing) {
  start();
  auto none = post("/v1/runtime/reload", json::object());
  EXPECT_EQ(none->status, 400);  // started without a config source
  EXPECT_EQ(error_code(none), "config_invalid");

  TempFile file;
  server::ReloadRegistration source(
      *runtime, [&] { return load_config_file(file.path); }, json::object());
  file.write(
      config_text("[models.\"embed/new\"]\ntask = \"embed\"\nprovider = \"test\"\nmodel = \"echo\"\n"));
  auto r = post("/v1/runtime/reload", json::object());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto report = json::parse(r->body);
  EXPECT_EQ(report["added"], json::array({"embed/new"})) << report.dump();
  EXPECT_TRUE(report["removed"].empty());
  ASSERT_EQ(post("/v1/embeddings", {{"model", "embed/new"}, {"input", "x"}})->status, 200);
  const auto before = alias_names(runtime_models());

  file.write("[models.\"embed/test\"\ntask = \"embed\"\n");  // a TOML syntax error
  auto broken = post("/v1/runtime/reload", json::object());
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->status, 400) << broken->body;
  EXPECT_EQ(error_code(broken), "config_invalid");
  EXPECT_NE(error_message(broken).find(file.path.filename().string() + ":"), std::string::npos)
      << error_message(broken);
  EXPECT_EQ(alias_names(runtime_models()), before);

  file.write(config_text("[server]\nport = \"eighty\"\n"));  // parses, but [server] is invalid
  auto bad_server = post("/v1/runtime/reload", json::object());
  EXPECT_EQ(bad_server->status, 400) << bad_server->body;
  EXPECT_NE(error_message(bad_server).find("port"), std::string::npos) << error_message(bad_server);
  EXPECT_EQ(alias_names(runtime_models()), before);

  file.write(config_text("[server]\nthreads = 4\n"));  // valid, but only a restart applies it
  auto server_change = post("/v1/runtime/reload", json::object());
  ASSERT_EQ(server_change->status, 200) << server_change->body;
  auto notes = json::parse(server_change->body)["notes"];
  EXPECT_NE(notes.dump().find("[server] changed"), std::string::npos) << notes.dump();
  EXPECT_EQ(json::parse(server_change->body)["removed"], json::array({"embed/new"}));
}

TEST_F(LifecycleTest, RequestKeepAliveIsValidatedOnEveryInferenceRoute) {
  start();
  const json messages = {{{"role", "user"}, {"content", "hi"}}};
  const std::vector<std::pair<std::string, json>> requests = {
      {"/v1/embeddings", {{"model", "embed/test"}, {"input", "x"}}},
      {"/v1/rerank", {{"model", "rerank/test"}, {"query", "q"}, {"documents", {"a"}}}},
      {"/v1/chat/completions", {{"model", "chat/test"}, {"max_tokens", 1}, {"messages", messages}}},
      {"/v1/completions", {{"model", "chat/test"}, {"max_tokens", 1}, {"prompt", "p"}}}};
  for (auto [path, body] : requests) {
    for (const json& bad : {json("later"), json(true), json::array()}) {
      body["keep_alive"] = bad;
      auto r = post(path, body);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 400) << path << " " << bad.dump();
      EXPECT_EQ(error_code(r), "invalid_input") << path;
      EXPECT_NE(error_message(r).find("keep_alive"), std::string::npos) << error_message(r);
    }
    body["keep_alive"] = "10m";
    auto ok = post(path, body);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << path << " " << ok->body;
  }
  EXPECT_EQ(probe->loads.load(), 3);  // refused requests loaded nothing: embed, rerank, chat once each
  const json list = runtime_models();
  const json* m = find_model(list, "embed/test");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ((*m)["keep_alive_ms"], 600000);  // the request's keep_alive holds from that call on
}

TEST_F(LifecycleTest, RequestKeepAliveZeroUnloadsAfterTheCall) {
  start();
  auto r = post("/v1/embeddings", {{"model", "embed/test"}, {"input", "x"}, {"keep_alive", 0}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(Probe::eventually([&] {
    const json list = runtime_models();
    const json* m = find_model(list, "embed/test");
    return m == nullptr || (*m)["state"] != "loaded";
  }));
  EXPECT_TRUE(Probe::eventually([&] {
    return metrics().find("xervo_model_unloads_total{key=\"embed:test:echo") != std::string::npos;
  })) << metrics();
}

// An embedding alias whose model declares `bytes` (its options are part of the key).
ModelSpec sized(std::string alias, uint64_t bytes, std::string model = "echo") {
  auto s = test_spec(std::move(alias), ModelTask::embed, std::move(model));
  s.options = {{"test_bytes", bytes}};
  return s;
}

std::string key_of(const ModelSpec& spec) { return make_model_key(spec).to_string(); }

TEST_F(LifecycleTest, RuntimeModelsAndMetricsShowTheBudgetAndEvictions) {
  limits = RuntimeLimits{};
  limits->memory_budget = 10000;
  start({sized("embed/a", 6000), sized("embed/b", 6000, "echo-b")});
  load("embed/a");
  auto list = runtime_models();
  EXPECT_EQ(list["memory"]["budget"], 10000) << list["memory"].dump();
  EXPECT_EQ(list["memory"]["used"], 6000);
  EXPECT_EQ(list["memory"]["loaded"], 1);
  EXPECT_GT(list["memory"]["physical"].get<uint64_t>(), 0u);
  EXPECT_EQ(list["limits"]["memory_budget"], 10000);
  const json* a = find_model(list, "embed/a");
  ASSERT_NE(a, nullptr) << list.dump();
  EXPECT_EQ((*a)["estimated"]["total"], 6000);
  EXPECT_EQ((*a)["measured"]["total"], 6000);
  EXPECT_EQ((*a)["charged_bytes"], 6000);
  for (const char* field : {"rss_delta_bytes", "handles", "in_flight", "last_used_ms", "keep_alive_ms"})
    EXPECT_TRUE((*a).contains(field)) << field;
  std::string m = metrics();
  EXPECT_NE(m.find("xervo_memory_budget_bytes 10000\n"), std::string::npos) << m;
  EXPECT_NE(m.find("xervo_memory_used_bytes 6000\n"), std::string::npos) << m;
  EXPECT_NE(m.find("xervo_models_loaded 1\n"), std::string::npos) << m;

  load("embed/b");  // 6000 + 6000 > 10000: the idle embed/a makes room
  list = runtime_models();
  EXPECT_EQ(list["memory"]["used"], 6000) << list["memory"].dump();
  const std::string a_key = escape_key(key_of(sized("embed/a", 6000)));
  m = metrics();
  EXPECT_NE(m.find("xervo_model_evictions_total{key=\"" + a_key + "\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("xervo_model_unloads_total{key=\"" + a_key + "\",reason=\"evicted\"} 1"),
            std::string::npos)
      << m;

  ASSERT_EQ(post("/v1/runtime/models/unload", {{"model", "embed/b"}})->status, 200);
  m = metrics();
  EXPECT_NE(m.find("reason=\"explicit\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("xervo_memory_used_bytes 0\n"), std::string::npos) << m;
}

TEST_F(LifecycleTest, AModelLargerThanTheBudgetIs503WithRetryAfter) {
  limits = RuntimeLimits{};
  limits->memory_budget = 10000;
  start({sized("embed/huge", 20000)});
  for (const auto& [path, body] : std::vector<std::pair<std::string, json>>{
           {"/v1/runtime/models/load", {{"model", "embed/huge"}}},
           {"/v1/embeddings", {{"model", "embed/huge"}, {"input", "x"}}}}) {
    auto r = post(path, body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << path << " " << r->body;
    EXPECT_EQ(error_code(r), "insufficient_memory") << r->body;
    EXPECT_EQ(r->get_header_value("Retry-After"), "5");
  }
  EXPECT_EQ(probe->loads.load(), 0);  // refused before the provider loaded anything
}

// Reads GET /v1/runtime/events on its own thread until stopped.
class EventReader {
 public:
  explicit EventReader(std::unique_ptr<httplib::Client> client) : client_(std::move(client)) {
    thread_ = std::thread([this] {
      client_->Get("/v1/runtime/events", [this](const char* data, size_t n) {
        {
          std::lock_guard lock(mu_);
          text_.append(data, n);
        }
        cv_.notify_all();
        return !stop_.load();
      });
    });
  }
  ~EventReader() {
    stop_ = true;
    client_->stop();
    thread_.join();
  }
  // Waits (bounded, so a failing test never hangs) until the stream holds `needle`.
  bool wait_for(const std::string& needle) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30),
                        [&] { return text_.find(needle) != std::string::npos; });
  }
  // The data of the first event of `kind` for which `match` holds (null when none).
  json event(const std::string& kind, const std::function<bool(const json&)>& match) {
    std::lock_guard lock(mu_);
    const std::string head = "event: " + kind + "\ndata: ";
    for (size_t pos = text_.find(head); pos != std::string::npos; pos = text_.find(head, pos + 1)) {
      size_t end = text_.find("\n\n", pos);
      if (end == std::string::npos) break;
      auto data = json::parse(text_.substr(pos + head.size(), end - pos - head.size()), nullptr, false);
      if (!data.is_discarded() && match(data)) return data;
    }
    return nullptr;
  }

 private:
  std::unique_ptr<httplib::Client> client_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string text_;  // GUARDED_BY(mu_)
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(LifecycleTest, EventsShowLoadingUnloadReasonsAndSwaps) {
  start();
  EventReader events(client());
  // The subscription exists before the stream's first comment is written.
  ASSERT_TRUE(events.wait_for(": xervo runtime events"));
  load("chat/test");
  const std::string old_key = key_of(test_spec("chat/test", ModelTask::generate, "stream"));
  ASSERT_EQ(post("/v1/runtime/models/swap", {{"alias", "chat/test"}, {"model", "gated"}})->status, 200);
  ASSERT_EQ(post("/v1/runtime/models/unload", {{"model", "chat/test"}})->status, 200);

  ASSERT_TRUE(events.wait_for("event: swapped"));
  json swapped = events.event("swapped", [](const json& e) { return e["alias"] == "chat/test"; });
  ASSERT_FALSE(swapped.is_null());
  EXPECT_EQ(swapped["previous"], old_key);
  EXPECT_NE(swapped["model"]["key"].get<std::string>().find("gated"), std::string::npos) << swapped.dump();

  json loading = events.event("loading", [](const json& e) { return e["model"]["model"] == "stream"; });
  ASSERT_FALSE(loading.is_null());
  EXPECT_TRUE(loading.contains("progress") && loading.contains("stage")) << loading.dump();

  ASSERT_TRUE(events.wait_for("\"reason\":\"explicit\""));
  json unloaded = events.event("unloaded", [](const json& e) { return e["reason"] == "explicit"; });
  ASSERT_FALSE(unloaded.is_null());
  EXPECT_NE(unloaded["model"]["key"].get<std::string>().find("gated"), std::string::npos) << unloaded.dump();
  // The old model left because of the swap (once its calls drained), and says so.
  ASSERT_TRUE(events.wait_for("\"reason\":\"swapped\""));
  EXPECT_FALSE(
      events.event("unloaded", [&](const json& e) { return e["model"]["key"] == old_key; }).is_null());
}

}  // namespace
}  // namespace xervo::testing
