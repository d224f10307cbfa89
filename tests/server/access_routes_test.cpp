// Access control through the routes: a key whose role allows only embed/* gets 403 on chat/test on
// every API family (OpenAI, Ollama, Anthropic, WebSocket, batch lines) and sees only its models in
// the listings; scopes of the new roles; IP allow-lists with X-Forwarded-For believed only from
// trusted proxies; JWT bearer tokens; keys file changes applied without a restart; the audit log.
#include <cstdlib>
#include <fstream>

#include "batch_fixture.h"
#include "jwt_test_keys.h"
#include "server/audit_log.h"
#include "server/key_file.h"
#include "server_fixture.h"
#include "websocket_test_client.h"

namespace xervo::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const httplib::Headers kEmbedder = {{"Authorization", "Bearer embed-key"}};
const httplib::Headers kOps = {{"Authorization", "Bearer ops-key"}};
const std::string kJwtSecret = "access-routes-test-secret-0123456789abcdef";

json chat(const std::string& model) {
  return {{"model", model}, {"max_tokens", 3}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
}

void add_roles(ServerOptions& o) {
  o.roles.push_back({"embedder", {"inference"}, std::vector<std::string>{"embed/*"}, {}});
  o.roles.push_back({"scraper", {"metrics"}, std::nullopt, {}});
  ApiKey embed;
  embed.name = "emb";
  embed.sha256 = sha256_hex("embed-key");
  embed.roles = {"embedder"};
  o.keys.push_back(embed);
  o.keys.push_back({"ops", sha256_hex("ops-key"), {"admin"}});
  ApiKey scraper;
  scraper.name = "prom";
  scraper.sha256 = sha256_hex("prom-key");
  scraper.roles = {"scraper"};
  o.keys.push_back(scraper);
}

class AccessTest : public BatchTest {
 protected:
  fs::path home = batch_temp_dir("access");
  ~AccessTest() override { fs::remove_all(home); }

  static void expect_forbidden_naming(const httplib::Result& r, const std::string& model) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << r->body;
    EXPECT_NE(r->body.find(model), std::string::npos) << r->body;
  }
  std::vector<std::string> listed(const std::string& path, const char* array, const char* field,
                                  const httplib::Headers& h) {
    auto r = get(path, h);
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    std::vector<std::string> out;
    if (!r) return out;
    const json body = json::parse(r->body);
    for (const auto& m : body[array]) out.push_back(m[field]);
    return out;
  }
};

TEST_F(AccessTest, EmbedOnlyKeyIs403OnChatThroughEveryRouteFamily) {
  add_roles(options);
  start();
  // OpenAI: the error in OpenAI's shape, naming the alias and what the key may use.
  auto openai = post("/v1/chat/completions", chat("chat/test"), kEmbedder);
  expect_forbidden_naming(openai, "chat/test");
  auto body = json::parse(openai->body);
  EXPECT_EQ(body["error"]["type"], "permission_error");
  EXPECT_EQ(body["error"]["code"], "forbidden");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("embed/*"), std::string::npos);
  expect_forbidden_naming(post("/v1/completions", {{"model", "chat/test"}, {"prompt", "x"}}, kEmbedder),
                          "chat/test");
  expect_forbidden_naming(
      post("/v1/rerank", {{"model", "rerank/test"}, {"query", "q"}, {"documents", {"a"}}}, kEmbedder),
      "rerank/test");
  auto allowed = post("/v1/embeddings", {{"model", "embed/test"}, {"input", "hello"}}, kEmbedder);
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 200) << allowed->body;
  // Ollama: its own error shape, same refusal.
  auto ollama =
      post("/api/chat",
           {{"model", "chat/test"}, {"stream", false}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}},
           kEmbedder);
  expect_forbidden_naming(ollama, "chat/test");
  EXPECT_TRUE(json::parse(ollama->body)["error"].is_string()) << ollama->body;
  expect_forbidden_naming(
      post("/api/generate", {{"model", "chat/test"}, {"prompt", "x"}, {"stream", false}}, kEmbedder),
      "chat/test");
  // Anthropic, with the key as x-api-key.
  auto anthropic = post("/v1/messages", chat("chat/test"),
                        {{"x-api-key", "embed-key"}, {"anthropic-version", "2023-06-01"}});
  expect_forbidden_naming(anthropic, "chat/test");
  EXPECT_EQ(json::parse(anthropic->body)["error"]["type"], "permission_error") << anthropic->body;
  // WebSocket: the connection opens (the key may use some models), the generation is refused.
  {
    WsClient c;
    ASSERT_EQ(c.connect(server->port(), {}, {{"Authorization", "Bearer embed-key"}}), 101);
    json gen = chat("chat/test");
    gen["type"] = "generate";
    gen["id"] = "g1";
    ASSERT_TRUE(c.send(gen));
    auto reply = c.read();
    ASSERT_TRUE(reply);
    EXPECT_EQ((*reply)["type"], "error") << reply->dump();
    EXPECT_EQ((*reply)["error"]["code"], "forbidden") << reply->dump();
    EXPECT_NE((*reply)["error"]["message"].get<std::string>().find("chat/test"), std::string::npos);
  }
  // The admin key is not restricted.
  auto ops = post("/v1/chat/completions", chat("chat/test"), kOps);
  ASSERT_TRUE(ops);
  EXPECT_EQ(ops->status, 200) << ops->body;
  EXPECT_EQ(probe->started.load(), 2);  // the embedding and the admin's chat: nothing refused reached a model
}

TEST_F(AccessTest, ListingsShowOnlyTheModelsAKeyMayUse) {
  add_roles(options);
  start();
  auto openai = listed("/v1/models", "data", "id", kEmbedder);
  EXPECT_EQ(openai, (std::vector<std::string>{"embed/gated", "embed/test"}));
  auto tags = listed("/api/tags", "models", "name", kEmbedder);
  EXPECT_EQ(tags, (std::vector<std::string>{"embed/gated", "embed/test"}));
  EXPECT_EQ(listed("/v1/models", "data", "id", kOps).size(), base_specs().size());
}

TEST_F(AccessTest, BatchLinesRunWithTheCreatorsAllowList) {
  add_roles(options);
  start_batch_server();
  // An embeddings batch: rerank/test is outside the key's embed/* (refused before the task is checked).
  auto line = [](const std::string& id, const std::string& model) {
    return json{{"custom_id", id},
                {"method", "POST"},
                {"url", "/v1/embeddings"},
                {"body", {{"model", model}, {"input", "hi"}}}}
               .dump() +
           "\n";
  };
  const std::string input = line("no", "rerank/test") + line("yes", "embed/test");
  auto up = client()->Post("/v1/files", kEmbedder, multipart_body("b42", "batch", "in.jsonl", input),
                           "multipart/form-data; boundary=b42");
  ASSERT_TRUE(up && up->status == 200) << (up ? up->body : "no response");
  auto file_id = json::parse(up->body)["id"].get<std::string>();
  auto made = post("/v1/batches",
                   {{"input_file_id", file_id}, {"endpoint", "/v1/embeddings"}, {"completion_window", "24h"}},
                   kEmbedder);
  ASSERT_TRUE(made && made->status == 200) << (made ? made->body : "no response");
  const std::string id = json::parse(made->body)["id"];
  json b;
  Probe::eventually(
      [&] {
        auto r = get("/v1/batches/" + id, kEmbedder);
        b = r && r->status == 200 ? json::parse(r->body) : json();
        return b.is_object() && (b["status"] == "completed" || b["status"] == "failed");
      },
      std::chrono::milliseconds(30000));
  ASSERT_EQ(b["status"], "completed") << b.dump();
  auto errors = get("/v1/files/" + b["error_file_id"].get<std::string>() + "/content", kEmbedder);
  ASSERT_TRUE(errors && errors->status == 200);
  auto refused = json::parse(errors->body.substr(0, errors->body.find('\n')));
  EXPECT_EQ(refused["custom_id"], "no");
  EXPECT_EQ(refused["response"]["status_code"], 403) << refused.dump();
  EXPECT_EQ(b["request_counts"]["completed"], 1) << b.dump();
  // Another key does not see the batch at all.
  auto other = get("/v1/batches/" + id, kOps);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
}

TEST_F(AccessTest, NewScopesAreNarrowAndTodaysInferenceKeysKeepWorking) {
  add_roles(options);
  options.keys.push_back({"legacy", sha256_hex("legacy-key"), {"inference"}});
  start();
  const httplib::Headers prom = {{"Authorization", "Bearer prom-key"}};
  const httplib::Headers legacy = {{"Authorization", "Bearer legacy-key"}};
  EXPECT_EQ(get("/metrics", prom)->status, 200);
  EXPECT_EQ(get("/v1/models", prom)->status, 403);
  EXPECT_NE(get("/v1/models", prom)->body.find("'inference' scope"), std::string::npos);
  EXPECT_EQ(get("/metrics", legacy)->status, 200);
  EXPECT_EQ(get("/v1/batches", legacy)->status, 200);
  EXPECT_EQ(get("/v1/runtime/models", legacy)->status, 403);
  EXPECT_EQ(get("/v1/library/search?q=x", legacy)->status, 403);
}

TEST_F(AccessTest, ForwardedForIsIgnoredFromAnUntrustedPeer) {
  ApiKey office;
  office.name = "office";
  office.sha256 = sha256_hex("office-key");
  office.scopes = {"inference"};
  office.allow_ips = {"198.51.100.0/24"};
  options.keys = {office};
  start();
  // 127.0.0.1 is no trusted proxy here: the spoofed header changes nothing.
  auto spoofed =
      get("/v1/models", {{"Authorization", "Bearer office-key"}, {"X-Forwarded-For", "198.51.100.7"}});
  ASSERT_TRUE(spoofed);
  EXPECT_EQ(spoofed->status, 403) << spoofed->body;
  EXPECT_NE(spoofed->body.find("127.0.0.1"), std::string::npos) << spoofed->body;
}

TEST_F(AccessTest, ForwardedForFromATrustedProxyNamesTheClient) {
  ApiKey office;
  office.name = "office";
  office.sha256 = sha256_hex("office-key");
  office.scopes = {"inference"};
  office.allow_ips = {"198.51.100.0/24", "2001:db8::/32"};
  options.keys = {office};
  options.trusted_proxies = {"127.0.0.1"};
  start();
  const std::string key = "Bearer office-key";
  EXPECT_EQ(get("/v1/models", {{"Authorization", key}, {"X-Forwarded-For", "198.51.100.7"}})->status, 200);
  EXPECT_EQ(get("/v1/models", {{"Authorization", key}, {"X-Forwarded-For", "2001:db8::5"}})->status, 200);
  EXPECT_EQ(get("/v1/models", {{"Authorization", key}, {"X-Forwarded-For", "203.0.113.1"}})->status, 403);
  // The client forged a left part; the proxy appended the address it really saw.
  EXPECT_EQ(
      get("/v1/models", {{"Authorization", key}, {"X-Forwarded-For", "198.51.100.7, 203.0.113.1"}})->status,
      403);
  EXPECT_EQ(get("/v1/models", {{"Authorization", key}})->status, 403);  // the proxy itself is not allowed
}

TEST_F(AccessTest, JwtBearerTokensCarryRoles) {
  ::setenv("XERVO_ACCESS_TEST_SECRET", kJwtSecret.c_str(), 1);
  add_roles(options);
  options.jwt.hs256_secret_env = "XERVO_ACCESS_TEST_SECRET";
  options.jwt.audiences = {"xervo"};
  start();
  json c = claims("alice", {"embedder", "unknown-role"});
  c["aud"] = "xervo";
  const httplib::Headers alice = {{"Authorization", "Bearer " + sign(JWT_ALG_HS256, kJwtSecret, c)}};
  auto embed = post("/v1/embeddings", {{"model", "embed/test"}, {"input", "hello"}}, alice);
  ASSERT_TRUE(embed);
  EXPECT_EQ(embed->status, 200) << embed->body;
  auto refused = post("/v1/chat/completions", chat("chat/test"), alice);
  expect_forbidden_naming(refused, "chat/test");
  EXPECT_NE(refused->body.find("alice"), std::string::npos);
  json expired = c;
  expired["exp"] = unix_now() - 3600;
  auto old = get("/v1/models", {{"Authorization", "Bearer " + sign(JWT_ALG_HS256, kJwtSecret, expired)}});
  ASSERT_TRUE(old);
  EXPECT_EQ(old->status, 401);
  EXPECT_EQ(old->get_header_value("WWW-Authenticate"), "Bearer");
  json no_role = c;
  no_role["roles"] = json::array({"unknown-role"});
  EXPECT_EQ(
      get("/v1/models", {{"Authorization", "Bearer " + sign(JWT_ALG_HS256, kJwtSecret, no_role)}})->status,
      403);
  // API keys keep working beside tokens.
  EXPECT_EQ(get("/v1/models", kOps)->status, 200);
}

TEST_F(AccessTest, KeysFileChangesApplyWithoutARestart) {
  options.keys_file = home / "keys.json";
  options.keys.push_back({"ops", sha256_hex("ops-key"), {"admin"}});
  options.audit.path = home / "audit.log";
  start();
  const httplib::Headers fresh = {{"Authorization", "Bearer fresh-key"}};
  EXPECT_EQ(get("/v1/models", fresh)->status, 401);
  ASSERT_TRUE(
      server::update_keys_file(options.keys_file, [](std::vector<server::StoredKey>& keys) -> Result<void> {
        keys.push_back({ApiKey{"fresh", sha256_hex("fresh-key"), {"inference"}}, "2026-01-01T00:00:00Z"});
        return {};
      }).ok());
  EXPECT_EQ(get("/v1/models", fresh)->status, 200);
  ASSERT_TRUE(
      server::update_keys_file(options.keys_file, [](std::vector<server::StoredKey>& keys) -> Result<void> {
        keys.clear();
        return {};
      }).ok());
  EXPECT_EQ(get("/v1/models", fresh)->status, 401);
  EXPECT_EQ(get("/v1/models", kOps)->status, 200);
  std::ifstream in(options.audit.path);
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("\"keys_reloaded\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"removed\":[\"fresh\"]"), std::string::npos) << log;
}

TEST_F(AccessTest, AnEmptyKeysFileLocksEveryoneOutRatherThanOpeningTheServer) {
  options.keys_file = home / "keys.json";
  ASSERT_TRUE(server::update_keys_file(options.keys_file, [](auto&) -> Result<void> { return {}; }).ok());
  start();
  auto r = get("/v1/models");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
}

TEST_F(AccessTest, AuditLogRecordsFailuresAdminActionsAndRefusalsWithoutSecrets) {
  add_roles(options);
  options.audit.path = home / "audit.log";
  options.audit.include_prompts = true;
  start();
  EXPECT_EQ(get("/v1/models", {{"Authorization", "Bearer guessed-secret-key"}})->status, 401);
  EXPECT_EQ(post("/v1/runtime/models/load", {{"model", "embed/test"}}, kOps)->status, 200);
  EXPECT_EQ(post("/v1/runtime/models/load", {{"model", "embed/test"}}, kEmbedder)->status, 403);
  auto refused =
      post("/v1/chat/completions",
           {{"model", "chat/test"}, {"messages", {{{"role", "user"}, {"content", "the prompt text"}}}}},
           kEmbedder);
  EXPECT_EQ(refused->status, 403);
  std::ifstream in(options.audit.path);
  std::vector<json> records;
  for (std::string line; std::getline(in, line);) records.push_back(json::parse(line));
  std::map<std::string, json> by_event;
  for (const auto& r : records) by_event[r["event"]] = r;
  ASSERT_TRUE(by_event.count("auth_failed")) << records.size();
  EXPECT_EQ(by_event["auth_failed"]["ip"], "127.0.0.1");
  ASSERT_TRUE(by_event.count("admin_action"));
  EXPECT_EQ(by_event["admin_action"]["actor"], "key:ops");
  EXPECT_EQ(by_event["admin_action"]["path"], "/v1/runtime/models/load");
  EXPECT_EQ(by_event["admin_action"]["status"], 200);
  ASSERT_TRUE(by_event.count("access_denied"));
  EXPECT_EQ(by_event["access_denied"]["actor"], "key:emb");
  ASSERT_TRUE(by_event.count("model_refused"));
  EXPECT_EQ(by_event["model_refused"]["actor"], "key:emb");
  EXPECT_EQ(by_event["model_refused"]["model"], "chat/test");
  EXPECT_NE(by_event["model_refused"]["prompt"].get<std::string>().find("the prompt text"),
            std::string::npos);
  std::ifstream again(options.audit.path);
  std::string text((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>());
  for (const char* secret : {"guessed-secret-key", "ops-key", "embed-key"})
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
  auto verified = server::verify_audit_files(server::audit_files(options.audit.path),
                                             options.audit.path.string() + ".head", false);
  EXPECT_TRUE(verified.ok);
}

}  // namespace
}  // namespace xervo::testing
