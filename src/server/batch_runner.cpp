#include "server/batch_runner.h"

#include <fstream>
#include <sstream>
#include <unordered_set>

#include "core/log.h"

namespace xervo::server {
namespace {

using nlohmann::json;

json batch_errors(const std::string& code, const std::string& message) {
  return {
      {"object", "list"},
      {"data", json::array({{{"code", code}, {"message", message}, {"param", nullptr}, {"line", nullptr}}})}};
}

Result<std::string> read_whole(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::io_error, "cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

}  // namespace

std::string batch_result_line(const std::string& custom_id, const json& response, const json& error) {
  json line = {{"id", new_object_id("batch_req_")},
               {"custom_id", custom_id.empty() ? json(nullptr) : json(custom_id)},
               {"response", response},
               {"error", error}};
  return line.dump(-1, ' ', false, json::error_handler_t::replace);
}

BatchRunner::BatchRunner(BatchStore& store, BatchDispatch dispatch, BatchRunnerOptions options)
    : store_(store), dispatch_(std::move(dispatch)), options_(std::move(options)) {}

BatchRunner::~BatchRunner() { stop(); }

Result<void> BatchRunner::start() {
  if (options_.leases) {
    // The keeper's first pass takes the unfinished batches no live process holds.
    keeper_ = std::jthread([this](std::stop_token stop) { keep_leases(stop); });
    for (int i = 0; i < std::max(1, options_.concurrency); ++i)
      workers_.emplace_back([this](std::stop_token stop) { work(stop); });
    return {};
  }
  auto unfinished = store_.unfinished();
  if (!unfinished.ok()) return unfinished.error();
  {
    std::lock_guard lock(mu_);
    for (auto& record : *unfinished) {
      auto job = std::make_shared<Job>();
      job->record = std::move(record);
      job->cancel = job->record.status == "cancelling";
      jobs_.push_back(std::move(job));
    }
  }
  if (!unfinished->empty()) spdlog::info("batch: resuming {} unfinished batch(es)", unfinished->size());
  for (int i = 0; i < std::max(1, options_.concurrency); ++i)
    workers_.emplace_back([this](std::stop_token stop) { work(stop); });
  return {};
}

void BatchRunner::submit(const BatchRecord& batch) {
  // Accepted here, so nobody else has it yet: it runs here even when the lease cannot be taken now
  // (Redis unreachable); the keeper's renewal takes the lease once Redis answers.
  // (A keeper elsewhere that saw the stored record first may have taken it: then it runs there.)
  if (options_.leases && !options_.leases->acquire(batch.id) && options_.leases->reachable()) return;
  auto job = std::make_shared<Job>();
  job->record = batch;
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_all();
}

Result<std::optional<BatchRecord>> BatchRunner::cancel(const std::string& id) {
  auto record = store_.request_cancel(id);
  if (!record.ok() || !*record || (*record)->status != "cancelling") return record;
  {
    std::lock_guard lock(mu_);
    for (auto& job : jobs_)
      if (job->record.id == id) job->cancel = true;
  }
  cv_.notify_all();
  return record;
}

void BatchRunner::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  for (auto& w : workers_) w.request_stop();
  if (keeper_.joinable()) {
    keeper_.request_stop();
    cv_.notify_all();
    keeper_.join();
  }
  workers_.clear();  // joins; a running line sees its stop token and is not recorded
}

void BatchRunner::keep_leases(std::stop_token stop) {
  for (;;) {
    renew_and_adopt();
    cv_.notify_all();
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, stop, options_.leases->renew_interval(), [] { return false; });
    if (stop.stop_requested()) return;
  }
}

// Renews the leases of the batches this process runs (a lost one stops here), notices a cancel asked
// on another replica, and takes unfinished batches whose lease nobody holds. No lock held over I/O.
void BatchRunner::renew_and_adopt() {
  std::vector<std::shared_ptr<Job>> mine;
  std::set<std::string> known;
  {
    std::lock_guard lock(mu_);
    mine.assign(jobs_.begin(), jobs_.end());
    for (const auto& j : jobs_) known.insert(j->record.id);
  }
  for (auto& job : mine) {
    const bool held = options_.leases->acquire(job->record.id);
    auto now = held ? store_.batch(job->record.id) : Result<std::optional<BatchRecord>>(std::nullopt);
    std::lock_guard lock(mu_);
    if (!held && !job->lost) {
      spdlog::warn("batch {}: another replica holds its lease now; it continues there", job->record.id);
      job->lost = true;
      job->pending.clear();
    }
    if (now.ok() && *now && (*now)->status == "cancelling") job->cancel = true;
  }
  {
    std::lock_guard lock(mu_);
    std::erase_if(jobs_, [](const std::shared_ptr<Job>& j) {
      return j->lost && j->in_flight == 0 &&
             (j->state == Job::State::unloaded || j->state == Job::State::running);
    });
  }
  auto unfinished = store_.unfinished();
  if (!unfinished.ok()) return;
  for (auto& record : *unfinished) {
    if (known.count(record.id) || !options_.leases->acquire(record.id)) continue;
    spdlog::info("batch {}: taken over ({} of {} lines recorded)", record.id,
                 record.counts.completed + record.counts.failed, record.counts.total);
    auto job = std::make_shared<Job>();
    job->record = std::move(record);
    job->cancel = job->record.status == "cancelling";
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
}

int BatchRunner::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

void BatchRunner::work(std::stop_token stop) {
  for (;;) {
    std::shared_ptr<Job> job;
    int64_t line = -1;
    Task task = Task::none;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, stop, [&] {
        task = stop.stop_requested() ? Task::none : next_task(&job, &line);
        return task != Task::none;
      });
      if (task == Task::none) return;  // stopping
    }
    if (task == Task::load) {
      load(*job);
    } else if (task == Task::line) {
      run_line(*job, line, stop);
      std::lock_guard lock(mu_);
      job->in_flight--;
      running_--;
    } else {
      finalize(*job);
    }
    cv_.notify_all();
  }
}

// REQUIRES: mu_ held.
BatchRunner::Task BatchRunner::next_task(std::shared_ptr<Job>* out, int64_t* line) {
  for (auto& job : jobs_) {
    if (job->lost) continue;  // the keeper drops it once its lines in flight end
    if (job->state == Job::State::unloaded) {
      job->state = Job::State::loading;
      *out = job;
      return Task::load;
    }
    if (job->state != Job::State::running) continue;
    if (!job->cancel && !job->expire && unix_now() >= job->record.expires_at) {
      // Past the completion window: what has not started goes to the error file as batch_expired.
      job->expire = true;
      job->expired.assign(job->pending.begin(), job->pending.end());
    }
    if (job->cancel || job->expire) job->pending.clear();
    if (!job->pending.empty()) {
      *line = job->pending.front();
      job->pending.pop_front();
      job->in_flight++;
      running_++;
      *out = job;
      return Task::line;
    }
    if (job->in_flight == 0) {
      job->state = Job::State::finalizing;
      *out = job;
      return Task::finalize;
    }
  }
  return Task::none;
}

// Validating: the input file split into lines, each checked on its own (a bad line is an error
// line, not a failed batch); then the lines without an answer yet are queued.
void BatchRunner::load(Job& job) {
  const std::string& id = job.record.id;
  if (options_.start_span) {
    job.span = options_.start_span(job.record);
    if (job.span.recording())
      job.span.set("xervo.batch.id", id).set("xervo.batch.endpoint", job.record.endpoint);
  }
  auto fail = [&](const std::string& code, const std::string& message) {
    spdlog::warn("batch {} failed: {}", id, message);
    job.span.set_error(message);
    if (auto r = store_.fail(id, batch_errors(code, message)); !r.ok())
      spdlog::error("batch {}: {}", id, r.error().to_string());
    else if (options_.leases)
      options_.leases->release(id);
    forget(job);
  };
  auto content = read_whole(store_.file_path(job.record.input_file_id));
  if (!content.ok()) return fail("file_not_found", "input file " + job.record.input_file_id + " is gone");
  std::vector<Line> lines;
  std::unordered_set<std::string> seen;
  std::string_view rest = *content;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view text = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    if (blank(text)) continue;
    if (lines.size() == options_.max_lines)
      return fail("too_many_requests", "the input file holds more than " +
                                           std::to_string(options_.max_lines) +
                                           " requests ([server] max_batch_lines)");
    Line line;
    auto invalid = [&](const char* code, std::string message) {
      line.error_code = code;
      line.error_message = "line " + std::to_string(lines.size() + 1) + ": " + std::move(message);
    };
    json request = json::parse(text, nullptr, false);
    if (request.is_discarded() || !request.is_object()) {
      invalid("invalid_json", "not a JSON object");
    } else if (auto c = request.find("custom_id");
               c == request.end() || !c->is_string() || c->get<std::string>().empty()) {
      invalid("missing_custom_id", "'custom_id' must be a non-empty string");
    } else {
      line.custom_id = c->get<std::string>();
      auto url = request.value("url", json());
      auto body = request.value("body", json());
      if (!seen.insert(line.custom_id).second)
        invalid("duplicate_custom_id", "custom_id '" + line.custom_id + "' is used by an earlier line");
      else if (request.value("method", json()) != "POST")
        invalid("invalid_method", "'method' must be \"POST\"");
      else if (url != job.record.endpoint)
        invalid("invalid_url", "'url' must be the batch's endpoint " + job.record.endpoint);
      else if (!body.is_object())
        invalid("invalid_body", "'body' must be a JSON object (the request for " + job.record.endpoint + ")");
      else if (body.contains("stream") && body["stream"] == true)
        invalid("invalid_body", "'stream': true is not supported in a batch");
      else
        line.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    lines.push_back(std::move(line));
  }
  if (lines.empty()) return fail("empty_file", "the input file holds no request lines");
  if (auto r = store_.start(id, static_cast<int64_t>(lines.size())); !r.ok())
    return fail("internal_error", r.error().to_string());
  auto answered = store_.answered_lines(id);
  auto now = store_.batch(id);
  if (!answered.ok() || !now.ok() || !*now)
    return fail("internal_error",
                "cannot read the batch's progress back from " + store_.file_path("").string());
  std::lock_guard lock(mu_);
  job.record = **now;
  if (job.record.status == "cancelling") job.cancel = true;
  job.lines = std::move(lines);
  for (int64_t i = 0; i < static_cast<int64_t>(job.lines.size()); ++i)
    if (!answered->count(i)) job.pending.push_back(i);
  job.state = Job::State::running;
}

bool BatchRunner::wait_for(std::chrono::milliseconds delay, std::stop_token stop) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, stop, delay, [] { return false; });
  return !stop.stop_requested();
}

void BatchRunner::run_line(Job& job, int64_t index, std::stop_token stop) {
  const Line& line = job.lines[static_cast<size_t>(index)];
  auto record = [&](bool ok, const std::string& result) {
    if (auto r = store_.record_line(job.record.id, index, ok, result); !r.ok())
      spdlog::error("batch {}: line {} not recorded (it runs again after a restart): {}", job.record.id,
                    index, r.error().to_string());
  };
  if (!line.error_code.empty())
    return record(false, batch_result_line(line.custom_id, nullptr,
                                           {{"code", line.error_code}, {"message", line.error_message}}));
  for (int attempt = 1;; ++attempt) {
    std::stop_source line_stop;
    std::stop_callback link(stop, [&] { line_stop.request_stop(); });
    HttpRequest req;
    req.method = "POST";
    req.target = req.path = job.record.endpoint;
    req.body = line.body;
    req.remote_addr = "batch";
    req.client_gone = line_stop.get_token();
    std::string request_id = new_object_id("batch_req_");
    req.headers = {{"Content-Type", "application/json"}, {"X-Request-Id", request_id}};
    if (job.span.context().valid()) {  // the line's request spans are children of the batch's
      req.headers.emplace_back("traceparent", trace::format_traceparent(job.span.context()));
      if (!job.span.context().tracestate.empty())
        req.headers.emplace_back("tracestate", job.span.context().tracestate);
    }
    HttpResponse res;
    dispatch_(job.record.owner, req, res);
    if (stop.stop_requested()) return;  // shutting down: not recorded, so it runs again after a restart
    if ((res.status == 429 || res.status >= 500) && attempt < options_.max_attempts) {
      spdlog::info("batch {}: line {} answered {}; try {} of {} after a backoff", job.record.id, index,
                   res.status, attempt + 1, options_.max_attempts);
      if (!wait_for(options_.backoff * (1 << std::min(attempt - 1, 20)), stop)) return;
      continue;
    }
    json body = json::parse(res.body, nullptr, false);
    if (body.is_discarded()) body = res.body;
    json response = {{"status_code", res.status}, {"request_id", request_id}, {"body", std::move(body)}};
    return record(res.status >= 200 && res.status < 300,
                  batch_result_line(line.custom_id, response, nullptr));
  }
}

void BatchRunner::finalize(Job& job) {
  for (int64_t index : job.expired) {
    const Line& line = job.lines[static_cast<size_t>(index)];
    auto r = store_.record_line(
        job.record.id, index, false,
        batch_result_line(
            line.custom_id, nullptr,
            {{"code", "batch_expired"},
             {"message", "this request could not be executed before the completion window expired"}}));
    if (!r.ok()) spdlog::error("batch {}: {}", job.record.id, r.error().to_string());
  }
  std::string status = job.cancel ? "cancelled" : job.expire ? "expired" : "completed";
  auto done = store_.finalize(job.record.id, status);
  if (job.span.recording()) {
    job.span.set("xervo.batch.status", status);
    if (done.ok())
      job.span.set("xervo.batch.completed", done->counts.completed)
          .set("xervo.batch.failed", done->counts.failed);
    else
      job.span.set_error(done.error().message());
  }
  job.span.end();
  if (done.ok())
    spdlog::info("batch {} {}: {} completed, {} failed of {}", job.record.id, done->status,
                 done->counts.completed, done->counts.failed, done->counts.total);
  else
    spdlog::error("batch {} not finalized (it is again after a restart): {}", job.record.id,
                  done.error().to_string());
  if (done.ok() && options_.leases) options_.leases->release(job.record.id);
  forget(job);
}

void BatchRunner::forget(const Job& job) {
  std::lock_guard lock(mu_);
  std::erase_if(jobs_, [&](const std::shared_ptr<Job>& j) { return j.get() == &job; });
}

}  // namespace xervo::server
