// Fixture for the Batch API tests: a ServerTest whose options keep batches under a temporary
// folder, plus the "batchtest" provider whose "latch" generator answers `answer_first` calls and
// holds every later one (until released or cancelled), so a test can stop a server in the middle of
// a batch without timing. Helpers upload files (multipart, like the SDKs) and poll batches. Tests only.
#pragma once

#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "server_fixture.h"
#include "xervo/priority.h"

namespace xervo::testing {

struct LatchProbe {
  std::mutex mu;
  std::condition_variable_any cv;
  int answer_first = 1 << 30;                // calls answered before the latch holds the rest
  int calls = 0;                             // GUARDED_BY(mu)
  int held = 0;                              // GUARDED_BY(mu): calls waiting at the latch now
  bool released = false;                     // GUARDED_BY(mu)
  int permits = 0;                           // GUARDED_BY(mu): held calls that may go on, one each
  int in_flight = 0;                         // GUARDED_BY(mu): calls inside generate() now
  int max_in_flight = 0;                     // GUARDED_BY(mu)
  std::map<std::string, int> answered;       // GUARDED_BY(mu): prompt -> completed generations
  std::map<std::string, Priority> priority;  // GUARDED_BY(mu): prompt -> the caller's priority

  void release() {
    {
      std::lock_guard lock(mu);
      released = true;
    }
    cv.notify_all();
  }
  void permit_one() {
    {
      std::lock_guard lock(mu);
      permits++;
    }
    cv.notify_all();
  }
  int answered_count(const std::string& prompt) {
    std::lock_guard lock(mu);
    auto it = answered.find(prompt);
    return it == answered.end() ? 0 : it->second;
  }
};

class LatchGenerator : public GeneratorModel {
 public:
  explicit LatchGenerator(std::shared_ptr<LatchProbe> p) : p_(std::move(p)) {}
  using GeneratorModel::generate;
  Result<GenerateResult> generate(const GenerateRequest& req, const TokenCallback&) override {
    std::string prompt = req.messages.empty() ? req.prompt : req.messages.back().content;
    {
      std::unique_lock lock(p_->mu);
      p_->priority[prompt] = current_priority();
      p_->max_in_flight = std::max(p_->max_in_flight, ++p_->in_flight);
      if (++p_->calls > p_->answer_first) {
        p_->held++;
        p_->cv.notify_all();
        bool go = p_->cv.wait(lock, req.cancel, [&] { return p_->released || p_->permits > 0; });
        p_->held--;
        if (go && !p_->released) p_->permits--;
        if (!go) {
          p_->in_flight--;
          return Error(ErrorCode::cancelled, "latch call cancelled");
        }
      }
      p_->answered[prompt]++;
      p_->in_flight--;
    }
    GenerateResult r;
    r.text = "answer to " + prompt;
    r.finish_reason = FinishReason::stop;
    r.usage.prompt_tokens = 1;
    r.usage.completion_tokens = 1;
    return r;
  }

 private:
  std::shared_ptr<LatchProbe> p_;
};

class LatchProvider : public ModelProvider {
 public:
  explicit LatchProvider(std::shared_ptr<LatchProbe> p) : p_(std::move(p)) {}
  std::string id() const override { return "batchtest"; }
  ProviderCapabilities capabilities() const override { return {{ModelTask::generate}, true, true}; }
  using ModelProvider::load;
  Result<LoadedModel> load(const ModelSpec&, const ProgressCallback&) override {
    LoadedModel m;
    m.memory.weights = 1000;
    m.memory_bytes = 1000;
    m.generator = std::make_shared<LatchGenerator>(p_);
    return m;
  }
  Result<MemoryEstimate> estimate(const ModelSpec&, const LoadControl&) override {
    MemoryEstimate e;
    e.weights = 1000;
    return e;
  }

 private:
  std::shared_ptr<LatchProbe> p_;
};

inline std::filesystem::path batch_temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("xervo-batch-" + name + "-" + std::to_string(::getpid()) + "-" +
              std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(dir);
  return dir;
}

class BatchTest : public ServerTest {
 protected:
  std::shared_ptr<LatchProbe> latch = std::make_shared<LatchProbe>();
  std::filesystem::path dir = batch_temp_dir("t");

  BatchTest() {
    options.batch_dir = dir / "batches";
    options.batch_retry_backoff = std::chrono::milliseconds(1);
    options.access_log = false;
  }
  ~BatchTest() override {
    server.reset();
    std::filesystem::remove_all(dir);
  }

  // A server over the base aliases plus chat/latch, on the fixture's options (restartable).
  void start_batch_server() {
    RuntimeBuilder builder;
    builder.add_provider(std::make_shared<TestProvider>(probe));
    builder.add_provider(std::make_shared<LatchProvider>(latch));
    for (const auto& spec : base_specs()) builder.add_spec(spec);
    ModelSpec s = test_spec("chat/latch", ModelTask::generate, "latch");
    s.provider = "batchtest";
    builder.add_spec(s);
    auto built = builder.build();
    ASSERT_TRUE(built.ok()) << built.error().to_string();
    runtime = *built;
    auto started = Server::start(runtime, options);
    ASSERT_TRUE(started.ok()) << started.error().to_string();
    server = std::move(*started);
  }

  static std::string multipart_body(const std::string& boundary, const std::string& purpose,
                                    const std::string& filename, const std::string& content) {
    std::string b =
        "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n" + purpose +
        "\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename +
        "\"\r\nContent-Type: application/octet-stream\r\n\r\n" + content + "\r\n--" + boundary + "--\r\n";
    return b;
  }

  httplib::Result upload_raw(const std::string& content_type, const std::string& body) {
    return client()->Post("/v1/files", body, content_type.c_str());
  }

  // Uploads `content` as purpose=batch; the file id ("" on failure, with a test failure).
  std::string upload(const std::string& content, const std::string& filename = "in.jsonl") {
    auto r = upload_raw("multipart/form-data; boundary=xervoBoundary42",
                        multipart_body("xervoBoundary42", "batch", filename, content));
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    if (!r || r->status != 200) return "";
    return nlohmann::json::parse(r->body).value("id", "");
  }

  nlohmann::json create_batch(const std::string& file_id,
                              const std::string& endpoint = "/v1/chat/completions") {
    auto r = post("/v1/batches",
                  {{"input_file_id", file_id}, {"endpoint", endpoint}, {"completion_window", "24h"}});
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    return r ? nlohmann::json::parse(r->body, nullptr, false) : nlohmann::json();
  }

  nlohmann::json get_batch(const std::string& id) {
    auto r = get("/v1/batches/" + id);
    return r && r->status == 200 ? nlohmann::json::parse(r->body) : nlohmann::json();
  }

  // Polls until the batch reaches one of the final statuses; its last state.
  nlohmann::json wait_final(const std::string& id) {
    nlohmann::json b;
    Probe::eventually(
        [&] {
          b = get_batch(id);
          std::string s = b.is_object() ? b.value("status", "") : "";
          return s == "completed" || s == "failed" || s == "cancelled" || s == "expired";
        },
        std::chrono::milliseconds(30000));
    return b;
  }

  // The lines of a file's content, parsed; empty for a null id.
  std::vector<nlohmann::json> file_lines(const nlohmann::json& id) {
    std::vector<nlohmann::json> out;
    if (!id.is_string()) return out;
    auto r = get("/v1/files/" + id.get<std::string>() + "/content");
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    if (!r) return out;
    std::istringstream in(r->body);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
  }

  static std::string chat_line(const std::string& custom_id, const std::string& model,
                               const std::string& text) {
    return nlohmann::json{
               {"custom_id", custom_id},
               {"method", "POST"},
               {"url", "/v1/chat/completions"},
               {"body",
                {{"model", model}, {"max_tokens", 3}, {"messages", {{{"role", "user"}, {"content", text}}}}}}}
               .dump() +
           "\n";
  }
};

}  // namespace xervo::testing
