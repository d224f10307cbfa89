// BatchRunner: the background work of the Batch API. Worker threads (batch_concurrency of them)
// take the lines of queued batches, oldest batch first, and run each one through the server's own
// routes (Dispatch) as if it had come over HTTP; each answer is stored at once with the batch's
// progress (BatchStore::record_line). A line that fails with 429 or 5xx is tried again after an
// exponential backoff, up to max_attempts; lines that cannot run (malformed JSON, a wrong method or
// url, a duplicate custom_id, stream: true) go to the error file without running. At start the
// batches a previous process left unfinished resume with the lines that have no answer yet; stop()
// cancels the lines running, which are not recorded and so run again after a restart.
// Lines yield to interactive requests in two ways: at most `concurrency` run at once, and each runs
// with Priority::batch (the dispatch marks its request so), which the model schedulers honour.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "core/trace.h"
#include "server/batch_leases.h"
#include "server/batch_store.h"
#include "server/http_message.h"

namespace xervo::server {

struct BatchRunnerOptions {
  int concurrency = 1;                      // lines running at once, all batches together
  int max_attempts = 3;                     // tries of a line answered 429 or 5xx
  std::chrono::milliseconds backoff{1000};  // wait before the second try; doubles each time
  size_t max_lines = 50000;                 // requests per input file; more fails the batch
  // The span of a batch while it runs (telemetry); its lines' requests are its children. Unset: none.
  std::function<trace::Span(const BatchRecord&)> start_span;
  // Several processes share the store (a cluster): a batch runs only where its lease is held, and a
  // keeper thread renews the leases and takes over batches whose holder stopped renewing. Null: this
  // process runs every batch of its store.
  std::shared_ptr<BatchLeases> leases;
};

// Runs `request` through the routes as `owner` (the batch creator's rate-limit identity).
using BatchDispatch =
    std::function<void(const std::string& owner, HttpRequest& request, HttpResponse& response)>;

class BatchRunner {
 public:
  BatchRunner(BatchStore& store, BatchDispatch dispatch, BatchRunnerOptions options);
  ~BatchRunner();  // stop()
  BatchRunner(const BatchRunner&) = delete;
  BatchRunner& operator=(const BatchRunner&) = delete;

  // Queues the unfinished batches of the store and starts the workers.
  Result<void> start();
  // Queues a batch just stored (status validating).
  void submit(const BatchRecord& batch);
  // Marks a batch cancelling: no new line of it starts; once the running ones end it is cancelled with
  // the results so far. The batch as it is now; nullopt when there is none.
  Result<std::optional<BatchRecord>> cancel(const std::string& id);
  // Cancels the running lines (not recorded) and ends the workers. Idempotent.
  void stop();

  // Lines running now (all batches).
  int running() const;

 private:
  struct Line {
    std::string custom_id;   // "" when the line has none
    std::string body;        // the request body, serialized
    std::string error_code;  // set: the line cannot run (goes to the error file as is)
    std::string error_message;
  };
  struct Job {
    BatchRecord record;
    enum class State { unloaded, loading, running, finalizing } state = State::unloaded;
    std::vector<Line> lines;
    std::deque<int64_t> pending;
    std::vector<int64_t> expired;  // lines dropped because the completion window ended
    int in_flight = 0;
    bool cancel = false;
    bool expire = false;
    trace::Span span;  // set by load(), ended by finalize(); lines only read its context
    bool lost = false;  // another process holds the lease now: start nothing more, do not finalize
  };
  enum class Task { none, load, line, finalize };

  void work(std::stop_token stop);
  Task next_task(std::shared_ptr<Job>* job, int64_t* line);
  void load(Job& job);
  void run_line(Job& job, int64_t index, std::stop_token stop);
  void finalize(Job& job);
  void forget(const Job& job);
  bool wait_for(std::chrono::milliseconds delay, std::stop_token stop);
  void keep_leases(std::stop_token stop);
  void renew_and_adopt();

  BatchStore& store_;
  const BatchDispatch dispatch_;
  const BatchRunnerOptions options_;

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<std::shared_ptr<Job>> jobs_;  // GUARDED_BY(mu_): oldest first
  int running_ = 0;                        // GUARDED_BY(mu_)
  std::vector<std::jthread> workers_;
  std::jthread keeper_;   // with options_.leases
  bool stopped_ = false;  // GUARDED_BY(mu_)
};

// One output or error file line: {"id", "custom_id", "response": {status_code, request_id, body} or
// null, "error": {code, message} or null}.
std::string batch_result_line(const std::string& custom_id, const nlohmann::json& response,
                              const nlohmann::json& error);

}  // namespace xervo::server
