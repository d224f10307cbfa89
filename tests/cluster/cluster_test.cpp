// Scale-out end to end on loopback (docs/server/scale-out.md): three `xervo serve` replicas sharing a
// Redis, one batch folder and a remote alias (the openai provider against a stand-in upstream, at
// most 8 requests in flight per replica), behind nginx with deploy/nginx/xervo.conf. Each test says
// what a load-balanced service must keep: one rate limit, one cache, batches that survive a replica,
// revocation everywhere, no lost retryable request when a replica dies, none at all in a rolling
// restart, and serving on when Redis is gone.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include "cluster_fixture.h"
#include "test_models.h"
#include "xervo/server.h"

namespace xervo::testing::cluster {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kAppKey = "xk-cluster-app";
constexpr const char* kLimitedKey = "xk-cluster-limited";
constexpr const char* kDoomedKey = "xk-cluster-doomed";
constexpr int kLimitedRpm = 6;

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

json embed_body(const std::string& input) {
  return {{"model", "embed/remote"}, {"input", json::array({input})}};
}

class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = std::filesystem::temp_directory_path() / ("xervo-cluster-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    upstream = new StandInUpstream();
    redis = new RedisProcess(dir);
    auto config = dir / "xervo.toml";
    std::ofstream cfg(config);
    cfg << "[providers.openai]\nbase_url = \"http://127.0.0.1:" << upstream->port() << "/v1\"\n"
        << "[models.\"embed/remote\"]\ntask = \"embed\"\nprovider = \"openai\"\nmodel = \"stand-in\"\n"
        << "options = { max_in_flight = 8, max_queued = 512 }\n"
        << "[cache]\nenabled = true\nmemory = \"16MiB\"\ndisk = 0\n"
        << "[server]\nshutdown_grace_s = 20\naccess_log = false\nbatch_concurrency = 1\n"
        << "batch_dir = \"" << (dir / "shared-batches").string() << "\"\n"
        << "[server.auth]\nkeys = [\n"
        << "  { name = \"app\", sha256 = \"" << sha256_hex(kAppKey)
        << "\", scopes = [\"inference\", \"batch\", \"metrics\"] },\n"
        << "  { name = \"limited\", sha256 = \"" << sha256_hex(kLimitedKey)
        << "\", scopes = [\"inference\"], requests_per_minute = " << kLimitedRpm << " },\n]\n"
        << "[cluster]\nredis_url = \"" << redis->url() << "\"\nbatch_lease_s = 3\ntimeout_ms = 200\n";
    cfg.close();
    for (int i = 0; i < 3; ++i) {
      auto home = dir / ("home" + std::to_string(i));
      std::filesystem::create_directories(home);
      // Each replica has its own keys file (its own XERVO_HOME), all holding the key "doomed".
      std::ofstream keys(home / "keys.json");
      keys << json{{"version", 1},
                   {"keys",
                    {{{"name", "doomed"},
                      {"sha256", sha256_hex(kDoomedKey)},
                      {"scopes", {"inference"}},
                      {"created", "2026-01-01T00:00:00Z"}}}}}
                  .dump();
      keys.close();
      replicas.push_back(new Replica(config, home));
      replicas.back()->start();
    }
    std::vector<int> ports;
    for (auto* r : replicas) ports.push_back(r->port());
    nginx = new NginxProcess(dir / "nginx", ports);
  }

  static void TearDownTestSuite() {
    delete nginx;
    for (auto* r : replicas) delete r;
    replicas.clear();
    delete redis;
    delete upstream;
    std::filesystem::remove_all(dir);
  }

  void SetUp() override {
    // Every replica up and Redis reachable before each test (an earlier one may have killed some).
    for (auto* r : replicas)
      if (!r->running()) r->start();
    for (auto* r : replicas)
      ASSERT_TRUE(eventually(
          [&] {
            auto a = http_get(r->port(), "/ready", kAppKey);
            return a.status == 200 && json::parse(a.body, nullptr, false)["cluster"]["redis"] == "up";
          },
          10s))
          << r->log();
    upstream->delay_ms = 10;
  }

  static std::string logs() {
    std::string out;
    for (size_t i = 0; i < replicas.size(); ++i)
      out += "--- replica " + std::to_string(i) + " ---\n" + replicas[i]->log();
    return out + "--- nginx ---\n" + nginx->error_log();
  }

  static inline std::filesystem::path dir;
  static inline StandInUpstream* upstream = nullptr;
  static inline RedisProcess* redis = nullptr;
  static inline std::vector<Replica*> replicas;
  static inline NginxProcess* nginx = nullptr;
};

TEST_F(ClusterTest, RateLimitHoldsAcrossReplicas) {
  // Six requests a minute for the key, spread over three replicas: the seventh is refused, on any.
  for (int i = 0; i < kLimitedRpm; ++i) {
    auto a = http_post(replicas[i % 3]->port(), "/v1/embeddings", embed_body("rl " + std::to_string(i)),
                       kLimitedKey);
    ASSERT_EQ(a.status, 200) << i << ": " << a.body;
  }
  for (auto* r : replicas) {
    auto a = http_post(r->port(), "/v1/embeddings", embed_body("rl over"), kLimitedKey);
    EXPECT_EQ(a.status, 429) << a.body;
    EXPECT_FALSE(a.header("Retry-After").empty());
  }
}

TEST_F(ClusterTest, ResponseComputedOnOneReplicaIsACacheHitOnAnother) {
  const std::string input = "cache probe " + std::to_string(::getpid());
  auto first = http_post(replicas[0]->port(), "/v1/embeddings", embed_body(input), kAppKey);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.header("X-Cache"), "miss");
  for (int i : {1, 2}) {
    auto again = http_post(replicas[i]->port(), "/v1/embeddings", embed_body(input), kAppKey);
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(again.header("X-Cache"), "hit") << "replica " << i;
    EXPECT_EQ(json::parse(again.body)["data"], json::parse(first.body)["data"]);
  }
  EXPECT_EQ(upstream->calls_for(input), 1);
  auto metrics = http_get(replicas[1]->port(), "/metrics", kAppKey);
  EXPECT_NE(metrics.body.find("xervo_cluster_cache_total{result=\"hit\"}"), std::string::npos);
}

TEST_F(ClusterTest, BatchAcceptedByAKilledReplicaCompletesOnAnother) {
  upstream->delay_ms = 150;  // slow lines: the kill lands mid-batch
  const int kLines = 20;
  std::string input;
  for (int i = 0; i < kLines; ++i)
    input += json{{"custom_id", "b" + std::to_string(i)},
                  {"method", "POST"},
                  {"url", "/v1/embeddings"},
                  {"body", embed_body("batch line " + std::to_string(i) + " " + std::to_string(::getpid()))}}
                 .dump() +
             "\n";
  const int first = replicas[0]->port();
  httplib::Client c("127.0.0.1", first);
  c.set_read_timeout(30, 0);
  httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kAppKey}};
  std::string body =
      "--B\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--B\r\n"
      "Content-Disposition: form-data; name=\"file\"; filename=\"b.jsonl\"\r\n\r\n" +
      input + "\r\n--B--\r\n";
  auto up = c.Post("/v1/files", auth, body, "multipart/form-data; boundary=B");
  ASSERT_TRUE(up && up->status == 200) << (up ? up->body : logs());
  auto created = http_post(first, "/v1/batches",
                           {{"input_file_id", json::parse(up->body)["id"]},
                            {"endpoint", "/v1/embeddings"},
                            {"completion_window", "24h"}},
                           kAppKey);
  ASSERT_EQ(created.status, 200) << created.body;
  const std::string id = json::parse(created.body)["id"];
  ASSERT_TRUE(eventually(
      [&] {
        auto b = json::parse(http_get(first, "/v1/batches/" + id, kAppKey).body, nullptr, false);
        return b.is_object() && b["request_counts"]["completed"].get<int>() >= 3;
      },
      30s))
      << logs();
  replicas[0]->kill();
  // Another replica sees the lease expire (3 s) and finishes the batch from the shared store.
  json done;
  ASSERT_TRUE(eventually(
      [&] {
        done = json::parse(http_get(replicas[1]->port(), "/v1/batches/" + id, kAppKey).body, nullptr, false);
        return done.is_object() && done["status"] == "completed";
      },
      60s))
      << done.dump() << logs();
  EXPECT_EQ(done["request_counts"]["completed"], kLines);
  EXPECT_EQ(done["request_counts"]["failed"], 0);
  auto out = http_get(replicas[2]->port(),
                      "/v1/files/" + done["output_file_id"].get<std::string>() + "/content", kAppKey);
  ASSERT_EQ(out.status, 200) << out.body;
  std::map<std::string, int> seen;
  std::istringstream lines(out.body);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) seen[json::parse(line)["custom_id"].get<std::string>()]++;
  EXPECT_EQ(seen.size(), static_cast<size_t>(kLines));
  for (const auto& [custom_id, n] : seen) EXPECT_EQ(n, 1) << custom_id;
}

TEST_F(ClusterTest, KeyRevokedOnOneReplicaIsRefusedByAll) {
  for (auto* r : replicas)
    ASSERT_EQ(http_post(r->port(), "/v1/embeddings", embed_body("doomed"), kDoomedKey).status, 200);
  // `xervo keys revoke` on replica 0's home: only its keys file changes.
  auto revoke = run_command({"env", "XERVO_HOME=" + replicas[0]->home().string(), XERVO_BINARY, "keys",
                             "revoke", "doomed", "--file", (replicas[0]->home() / "keys.json").string()},
                            std::chrono::seconds(30));
  ASSERT_EQ(revoke.exit_code, 0) << revoke.out << revoke.err;
  EXPECT_EQ(http_post(replicas[0]->port(), "/v1/embeddings", embed_body("doomed"), kDoomedKey).status, 401);
  for (int i : {1, 2})
    EXPECT_TRUE(eventually(
        [&] {
          return http_post(replicas[i]->port(), "/v1/embeddings", embed_body("doomed"), kDoomedKey).status ==
                 401;
        },
        5s))
        << "replica " << i << " still takes the revoked key\n"
        << logs();
}

// Clients through nginx for `run`; `during` runs on the side. Returns the failures.
struct Traffic {
  std::atomic<int> ok{0}, failed_get{0}, failed_post{0};
  std::vector<std::string> failures;
  std::mutex mu;
  std::vector<std::chrono::steady_clock::time_point> failed_post_at;
};

void drive(int port, int connections, std::atomic<bool>& stop, Traffic& t) {
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c)
    threads.emplace_back([&, c] {
      for (int n = 0; !stop.load(); ++n) {
        const bool get = n % 4 == 3;
        auto started = std::chrono::steady_clock::now();
        Answer a = get ? http_get(port, "/v1/models", kAppKey)
                       : http_post(port, "/v1/embeddings",
                                   embed_body("load " + std::to_string(c) + " " + std::to_string(n)), kAppKey,
                                   {{"Cache-Control", "no-cache, no-store"}});
        if (a.status == 200) {
          t.ok++;
          continue;
        }
        (get ? t.failed_get : t.failed_post)++;
        std::lock_guard lock(t.mu);
        if (!get) t.failed_post_at.push_back(started);
        if (t.failures.size() < 10)
          t.failures.push_back((get ? "GET " : "POST ") + std::to_string(a.status) + " " +
                               a.body.substr(0, 200));
      }
    });
  for (auto& th : threads) th.join();
}

std::string describe(const Traffic& t) {
  std::string s = "ok " + std::to_string(t.ok) + ", failed GET " + std::to_string(t.failed_get) +
                  ", failed POST " + std::to_string(t.failed_post) + "\n";
  for (const auto& f : t.failures) s += "  " + f + "\n";
  return s;
}

TEST_F(ClusterTest, KillingAReplicaUnderLoadLosesNoRetryableRequest) {
  upstream->delay_ms = 20;
  Traffic t;
  std::atomic<bool> stop{false};
  std::thread load([&] { drive(nginx->port(), 16, stop, t); });
  std::this_thread::sleep_for(1s);
  const auto killed_at = std::chrono::steady_clock::now();
  replicas[2]->kill();
  std::this_thread::sleep_for(2s);
  stop = true;
  load.join();
  EXPECT_GT(t.ok.load(), 100) << describe(t);
  // GETs are safe to retry: nginx sends every one that met the dead replica to another.
  EXPECT_EQ(t.failed_get.load(), 0) << describe(t) << logs();
  // A POST nginx had already sent to the killed replica cannot be replayed safely; only those
  // (at most one per connection, all sent before the kill) may fail.
  EXPECT_LE(t.failed_post.load(), 16) << describe(t);
  for (auto at : t.failed_post_at) EXPECT_LT(at, killed_at + 100ms) << describe(t);
}

TEST_F(ClusterTest, RollingRestartUnderLoadFailsNoRequest) {
  upstream->delay_ms = 20;
  Traffic t;
  std::atomic<bool> stop{false};
  std::thread load([&] { drive(nginx->port(), 16, stop, t); });
  std::this_thread::sleep_for(500ms);
  for (auto* r : replicas) {
    ASSERT_TRUE(r->terminate_and_wait()) << r->log();  // drains: finishes what it has, takes nothing new
    r->start();                                        // same port
    ASSERT_TRUE(eventually([&] { return http_get(r->port(), "/ready", kAppKey).status == 200; }, 30s))
        << r->log();
    std::this_thread::sleep_for(1500ms);  // nginx's fail_timeout: the replica is back in rotation
  }
  stop = true;
  load.join();
  EXPECT_GT(t.ok.load(), 100) << describe(t);
  EXPECT_EQ(t.failed_get.load() + t.failed_post.load(), 0) << describe(t) << logs();
}

TEST_F(ClusterTest, RedisDownServingContinuesAndReadySaysSo) {
  redis->stop();
  const int port = replicas[0]->port();
  // Requests go on, answered without waiting on Redis (each call is bounded by timeout_ms = 200).
  for (int i = 0; i < 5; ++i) {
    auto a = http_post(port, "/v1/embeddings", embed_body("redis down " + std::to_string(i)), kAppKey);
    EXPECT_EQ(a.status, 200) << a.body;
  }
  json ready;
  ASSERT_TRUE(eventually(
      [&] {
        auto a = http_get(port, "/ready", kAppKey);
        ready = json::parse(a.body, nullptr, false);
        return a.status == 200 && ready.is_object() && ready["cluster"]["redis"] == "unreachable";
      },
      5s))
      << ready.dump();
  EXPECT_EQ(ready["cluster"]["state"], "local");
  EXPECT_NE(http_get(port, "/metrics", kAppKey).body.find("xervo_cluster_redis_up 0"), std::string::npos);
  // The rate limit falls back to each replica's own bucket: still enforced.
  int refused = 0;
  for (int i = 0; i < kLimitedRpm + 1; ++i)
    refused += http_post(port, "/v1/embeddings", embed_body("local rl"), kLimitedKey).status == 429;
  EXPECT_GE(refused, 1);
  redis->start();
  EXPECT_TRUE(eventually(
      [&] {
        return json::parse(http_get(port, "/ready", kAppKey).body, nullptr, false)["cluster"]["redis"] ==
               "up";
      },
      10s));
}

}  // namespace
}  // namespace xervo::testing::cluster
