// Fixture for HTTP-level server tests: an in-process Server on a free 127.0.0.1 port over a
// runtime with the test provider (test_provider.h), and small helpers to call it. Tests only.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "test_provider.h"
#include "xervo/runtime.h"
#include "xervo/server.h"

namespace xervo::testing {

inline ModelSpec test_spec(std::string alias, ModelTask task, std::string model,
                           WarmupPolicy warmup = WarmupPolicy::lazy) {
  ModelSpec s;
  s.alias = std::move(alias);
  s.task = task;
  s.provider = "test";
  s.model = std::move(model);
  s.warmup = warmup;
  return s;
}

// The aliases every test server has.
inline std::vector<ModelSpec> base_specs() {
  return {test_spec("embed/test", ModelTask::embed, "echo"),
          test_spec("embed/gated", ModelTask::embed, "gated"),
          test_spec("rerank/test", ModelTask::rerank, "echo"),
          test_spec("chat/test", ModelTask::generate, "stream"),
          test_spec("chat/gated", ModelTask::generate, "gated"),
          test_spec("chat/endless", ModelTask::generate, "endless"),
          test_spec("chat/fail", ModelTask::generate, "fail")};
}

class ServerTest : public ::testing::Test {
 protected:
  std::shared_ptr<Probe> probe = std::make_shared<Probe>();
  std::shared_ptr<ModelRuntime> runtime;
  std::unique_ptr<Server> server;
  ServerOptions options = [] {
    ServerOptions o;
    o.port = 0;
    o.threads = 8;
    o.shutdown_grace = std::chrono::seconds(5);
    return o;
  }();

  std::optional<RuntimeLimits> limits;  // set before start(): the runtime's budget and keep-alive defaults
  std::optional<CacheOptions> cache;    // set before start(): the response cache (off without)

  void start(std::vector<ModelSpec> extra = {}) {
    RuntimeBuilder builder;
    builder.add_provider(std::make_shared<TestProvider>(probe));
    if (limits) builder.set_limits(*limits);
    if (cache) builder.set_cache(*cache);
    for (const auto& spec : base_specs()) builder.add_spec(spec);
    for (auto& spec : extra) builder.add_spec(spec);
    auto built = builder.build();
    ASSERT_TRUE(built.ok()) << built.error().to_string();
    runtime = *built;
    auto started = Server::start(runtime, options);
    ASSERT_TRUE(started.ok()) << started.error().to_string();
    server = std::move(*started);
  }

  void TearDown() override {
    probe->gate.open();
    server.reset();
  }

  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", server->port());
    c->set_read_timeout(30, 0);
    c->set_connection_timeout(5, 0);
    return c;
  }

  httplib::Result post(const std::string& path, const nlohmann::json& body,
                       const httplib::Headers& headers = {}) {
    return client()->Post(path.c_str(), headers, body.dump(), "application/json");
  }
  httplib::Result post_raw(const std::string& path, const std::string& body,
                           const httplib::Headers& headers = {}) {
    return client()->Post(path.c_str(), headers, body, "application/json");
  }
  httplib::Result get(const std::string& path, const httplib::Headers& headers = {}) {
    return client()->Get(path.c_str(), headers);
  }

  // The "code" of an OpenAI-shaped error body ("" when the body is not one).
  static std::string error_code(const httplib::Result& r) {
    if (!r) return "<no response>";
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("error")) return "";
    return j["error"].value("code", "");
  }
  static std::string error_message(const httplib::Result& r) {
    if (!r) return "<no response>";
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("error")) return "";
    return j["error"].value("message", "");
  }
};

}  // namespace xervo::testing
