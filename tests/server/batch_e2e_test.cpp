// End to end with the real binary on generated tiny models: the official `openai` npm client runs a
// batch through files.create + batches.create (batch_openai.cjs), and a `xervo serve` killed with
// SIGKILL in the middle of a batch resumes it when started again on the same batch_dir, with every
// custom_id in the output exactly once.
#include <gtest/gtest.h>
#include <httplib.h>

#include <csignal>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "process.h"
#include "test_models.h"
#include "xervo/server.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

std::filesystem::path temp_dir(const std::string& name) {
  auto dir =
      std::filesystem::temp_directory_path() / ("xervo-batch-e2e-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// A config over the tiny generator and embedder with batches under `dir`/batches.
std::filesystem::path write_config(const std::filesystem::path& dir, const std::string& extra = "") {
  auto path = dir / "xervo.toml";
  std::ofstream cfg(path);
  cfg << "[models.\"embed/tiny\"]\ntask = \"embed\"\nprovider = \"llamacpp\"\nmodel = \""
      << test_model("embedder").string() << "\"\n"
      << "[models.\"chat/tiny\"]\ntask = \"generate\"\nprovider = \"llamacpp\"\nmodel = \""
      << test_model("generator").string() << "\"\n"
      << "[server]\nshutdown_grace_s = 10\nbatch_dir = \"" << (dir / "batches").string() << "\"\n"
      << extra;
  return path;
}

struct Serve {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
  explicit Serve(const std::filesystem::path& config) {
    process = std::make_unique<ChildProcess>(
        std::vector<std::string>{XERVO_BINARY, "--config", config.string(), "serve", "--port", "0"});
    auto bound = process->wait_for_listening_port();
    if (bound) port = *bound;
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    return c;
  }
};

json get_json(const Serve& s, const std::string& path) {
  auto r = s.client().Get(path.c_str());
  return r && r->status == 200 ? json::parse(r->body, nullptr, false) : json();
}

TEST(BatchE2E, OfficialNodeClientRunsABatch) {
  auto dir = temp_dir("node");
  std::string extra = "[server.auth]\nkeys = [{ name = \"node\", sha256 = \"" + sha256_hex("node-batch-key") +
                      "\", scopes = [\"inference\"] }]\n";
  Serve serve(write_config(dir, extra));
  ASSERT_NE(serve.port, 0) << serve.process->log();
  auto node = run_command(
      {"env", "NODE_PATH=" XERVO_NODE_MODULES, "XERVO_TEST_KEY=node-batch-key", XERVO_NODE,
       XERVO_BATCH_SCRIPT, "http://127.0.0.1:" + std::to_string(serve.port) + "/v1", dir.string()},
      std::chrono::seconds(300));
  EXPECT_EQ(node.exit_code, 0) << node.out << node.err << "\n--- server log ---\n" << serve.process->log();
  EXPECT_NE(node.out.find("ok:"), std::string::npos) << node.out;
  serve.process->signal(SIGTERM);
  auto code = serve.process->wait(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value()) << serve.process->log();
  EXPECT_EQ(*code, 0) << serve.process->log();
  std::filesystem::remove_all(dir);
}

TEST(BatchE2E, SigkillMidBatchThenRestartResumesWithNoLineLostOrDoubled) {
  auto dir = temp_dir("kill");
  auto config = write_config(dir);
  const int kLines = 120;  // enough to kill mid-way; few enough to finish on a loaded machine
  std::string input;
  for (int i = 0; i < kLines; ++i)
    input += json{{"custom_id", "k" + std::to_string(i)},
                  {"method", "POST"},
                  {"url", "/v1/chat/completions"},
                  {"body",
                   {{"model", "chat/tiny"},
                    {"max_tokens", 8},
                    {"temperature", 0},
                    {"messages", {{{"role", "user"}, {"content", "line " + std::to_string(i)}}}}}}}
                 .dump() +
             "\n";
  std::string batch_id;
  {
    Serve first(config);
    ASSERT_NE(first.port, 0) << first.process->log();
    std::string body =
        "--B\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--B\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"k.jsonl\"\r\n\r\n" +
        input + "\r\n--B--\r\n";
    auto up = first.client().Post("/v1/files", body, "multipart/form-data; boundary=B");
    ASSERT_TRUE(up && up->status == 200) << (up ? up->body : first.process->log());
    json created = json::parse(first.client()
                                   .Post("/v1/batches",
                                         json{{"input_file_id", json::parse(up->body)["id"]},
                                              {"endpoint", "/v1/chat/completions"},
                                              {"completion_window", "24h"}}
                                             .dump(),
                                         "application/json")
                                   ->body);
    batch_id = created["id"];
    // Kill as soon as a few lines are answered: most of the batch is still to run.
    json b;
    for (int i = 0; i < 6000; ++i) {
      b = get_json(first, "/v1/batches/" + batch_id);
      if (b.is_object() && b["request_counts"]["completed"].get<int>() >= 5) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(b["status"], "in_progress") << b.dump() << first.process->log();
    first.process->signal(SIGKILL);
    ASSERT_TRUE(first.process->wait(std::chrono::seconds(10)).has_value());
  }
  Serve second(config);
  ASSERT_NE(second.port, 0) << second.process->log();
  json done;
  for (int i = 0; i < 4800; ++i) {
    done = get_json(second, "/v1/batches/" + batch_id);
    if (done.is_object() && done["status"] == "completed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(done["status"], "completed") << done.dump() << second.process->log();
  EXPECT_NE(second.process->log().find("resuming 1 unfinished batch"), std::string::npos)
      << second.process->log();
  EXPECT_EQ(done["request_counts"]["completed"], kLines) << done.dump();
  EXPECT_EQ(done["request_counts"]["failed"], 0) << done.dump();
  auto content =
      second.client().Get(("/v1/files/" + done["output_file_id"].get<std::string>() + "/content").c_str());
  ASSERT_TRUE(content && content->status == 200);
  std::map<std::string, int> seen;
  std::istringstream in(content->body);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) seen[json::parse(line)["custom_id"].get<std::string>()]++;
  ASSERT_EQ(seen.size(), static_cast<size_t>(kLines));
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id;
  second.process->signal(SIGTERM);
  second.process->wait(std::chrono::seconds(30));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xervo::testing
