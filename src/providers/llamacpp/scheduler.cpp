// PooledScheduler: packs embedding / rerank inputs of concurrent callers into shared batches.
#include "providers/llamacpp/scheduler.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "core/log.h"
#include "core/trace.h"

namespace xervo::llamacpp {

struct PooledScheduler::Request {
  std::vector<Tokens> sequences;  // immutable after submission
  Priority priority = Priority::interactive;
  int passed_over = 0;                  // scheduler thread only: batches formed without its inputs
  std::vector<std::vector<float>> out;  // scheduler thread only until finished
  size_t next = 0;                      // scheduler thread only: next sequence to batch
  size_t done = 0;                      // scheduler thread only
  bool finished = false;                // GUARDED_BY(mu_)
  bool cancelled = false;               // GUARDED_BY(mu_): the caller has gone
  std::optional<Error> error;           // GUARDED_BY(mu_)
  // When it was queued, and (scheduler thread, read by the caller once finished) when its first
  // input went into a batch: its queue wait and span.
  const std::chrono::steady_clock::time_point queued = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> started;
};

PooledScheduler::PooledScheduler(std::unique_ptr<Engine> engine, SchedulerConfig config, int n_outputs,
                                 std::shared_ptr<ComputeLane> lane)
    : engine_(std::move(engine)), config_(std::move(config)), n_outputs_(n_outputs), lane_(std::move(lane)) {
  lane_->attach(this);
}

PooledScheduler::~PooledScheduler() {
  callers_.close();
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  lane_->detach(this);
  {
    std::lock_guard lk(mu_);
    for (auto& r : queue_) {
      r->error = Error(ErrorCode::unavailable, config_.model_name + " was unloaded before the request ran");
      r->finished = true;
    }
    queue_.clear();
  }
  done_cv_.notify_all();
  callers_.wait_until_empty();  // callers woken above still use mu_ and lane_ on their way out
  engine_.reset();
}

size_t PooledScheduler::waiting() const {
  std::lock_guard lk(mu_);
  return queue_.size();
}

void PooledScheduler::set_decode_observer(DecodeObserver observer) {
  std::lock_guard lk(mu_);
  observer_ = std::move(observer);
}

Result<std::vector<std::vector<float>>> PooledScheduler::run(std::vector<Tokens> sequences,
                                                             std::stop_token cancel, Priority priority) {
  const Callers::Pass inside = callers_.enter();
  if (!inside) return Error(ErrorCode::unavailable, config_.model_name + " is being unloaded");
  if (sequences.empty()) return std::vector<std::vector<float>>{};
  auto cancelled = [&] {
    return Error(ErrorCode::cancelled, "the request to " + config_.model_name + " was cancelled");
  };
  if (cancel.stop_requested()) return cancelled();
  auto req = std::make_shared<Request>();
  req->out.resize(sequences.size());
  req->sequences = std::move(sequences);
  req->priority = priority;
  // Registered before the request is queued: a stop that comes while the first batch runs must
  // find it (a callback registered later would run only then, maybe after every batch).
  std::stop_callback on_stop(cancel, [&] {
    {
      std::lock_guard guard(mu_);
      req->cancelled = true;
    }
    done_cv_.notify_all();
    lane_->notify();
  });
  std::unique_lock lk(mu_);
  if (stopping_) return Error(ErrorCode::unavailable, config_.model_name + " is being unloaded");
  if (static_cast<int>(queue_.size()) >= config_.queue_limit)
    return Error(ErrorCode::unavailable, config_.model_name + ": " + std::to_string(queue_.size()) +
                                             " requests already waiting (queue_limit); retry later");
  queue_.push_back(req);
  lk.unlock();
  lane_->notify();
  // The request stays queued until the lane drops it (step); the caller does not wait for that.
  lk.lock();
  done_cv_.wait(lk, [&] { return req->finished || req->cancelled; });
  if (!req->finished) return cancelled();
  lk.unlock();  // finished: the scheduler is done with req; its spans are recorded outside the lock
  if (req->started) {
    trace::add_queue_wait(*req->started - req->queued);
    trace::record_span("queue", req->queued, *req->started);
  }
  if (req->error) return *req->error;
  return std::move(req->out);
}

bool PooledScheduler::step() {
  DecodeObserver observer;
  {
    std::lock_guard lk(mu_);
    std::erase_if(queue_, [](const std::shared_ptr<Request>& r) { return r->cancelled; });
    if (stopping_ || queue_.empty() || hold_for_gather()) return false;
    order_pending();
    observer = observer_;
  }
  const std::optional<Error> failure = run_batch();
  if (observer && !placed_.empty()) observer(decodes_.load());
  finish_batch(failure);
  last_inputs_ = placed_.size();
  last_end_ = std::chrono::steady_clock::now();
  pending_.clear();
  return true;
}

bool PooledScheduler::hold_for_gather() {
  // Dynamic batching: the callers a batch answered tend to come back together, a few ms apart.
  // A batch started on the first of them leaves the rest a whole batch behind it, so for a short
  // while after a batch the next one waits for as many inputs as that batch had. A caller after a
  // quiet spell runs at once. (Measured on 16 clients against gather 0: p99 175 -> 128 ms,
  // throughput the same within the machine's noise.)
  const auto gather_until = last_end_ + config_.gather;
  if (config_.gather.count() <= 0 || std::chrono::steady_clock::now() >= gather_until) return false;
  size_t waiting = 0;
  for (const auto& r : queue_) waiting += r->sequences.size() - r->next;
  if (waiting >= last_inputs_) return false;
  lane_->notify_at(gather_until);
  return true;
}

void PooledScheduler::order_pending() {
  // Interactive requests first, oldest first; then batch ones, unless the oldest batch request has
  // been passed over batch_patience times: then it goes first, once.
  pending_.clear();
  auto oldest_batch = std::find_if(queue_.begin(), queue_.end(),
                                   [](const auto& r) { return r->priority == Priority::batch; });
  const bool due = oldest_batch != queue_.end() && (*oldest_batch)->passed_over >= config_.batch_patience;
  if (due) pending_.push_back(*oldest_batch);
  for (const auto& r : queue_)
    if (r->priority == Priority::interactive) pending_.push_back(r);
  for (const auto& r : queue_)
    if (r->priority == Priority::batch && !(due && r == *oldest_batch)) pending_.push_back(r);
}

std::optional<Error> PooledScheduler::run_batch() {
  // Fill one batch in pending_'s order, each input whole and in its own sequence.
  engine_->batch_clear();
  placed_.clear();
  const auto now = std::chrono::steady_clock::now();
  for (auto& req : pending_) {
    while (req->next < req->sequences.size() && static_cast<int>(placed_.size()) < config_.n_seq_max) {
      const Tokens& t = req->sequences[req->next];
      if (static_cast<int>(t.size()) > engine_->batch_room()) break;
      const auto seq = static_cast<SeqId>(placed_.size());
      for (size_t p = 0; p < t.size(); ++p) engine_->batch_add(t[p], static_cast<Pos>(p), seq, true);
      placed_.push_back({req.get(), req->next, seq});
      if (!req->started) req->started = now;
      ++req->next;
    }
    if (static_cast<int>(placed_.size()) >= config_.n_seq_max || engine_->batch_room() == 0) break;
  }
  if (placed_.empty())
    return Error(ErrorCode::internal, config_.model_name + ": an input does not fit the batch");
  // A batch request is passed over when interactive inputs filled a batch without any of its own.
  bool interactive = false;
  for (const auto& p : placed_) interactive = interactive || p.req->priority == Priority::interactive;
  for (auto& req : pending_) {
    if (req->priority != Priority::batch) continue;
    bool placed = false;
    for (const auto& p : placed_) placed = placed || p.req == req.get();
    req->passed_over = placed ? 0 : req->passed_over + (interactive ? 1 : 0);
  }
  engine_->memory_clear();  // every batch is independent
  const int32_t rc = engine_->decode();
  decodes_.fetch_add(1);
  if (rc != 0)
    return Error(ErrorCode::inference_failed,
                 config_.model_name + ": llama_decode failed with code " + std::to_string(rc));
  for (const auto& p : placed_) {
    const float* v = engine_->pooled_output(p.seq);
    if (!v) return Error(ErrorCode::inference_failed, config_.model_name + ": no pooled output for an input");
    p.req->out[p.index].assign(v, v + n_outputs_);
    ++p.req->done;
  }
  return std::nullopt;
}

void PooledScheduler::finish_batch(const std::optional<Error>& failure) {
  {
    std::lock_guard lk(mu_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      Request& r = **it;
      // Nothing fitted: the request that would have gone first gets the error.
      bool touched = failure && placed_.empty() && !pending_.empty() && *it == pending_.front();
      for (const auto& p : placed_) touched = touched || p.req == &r;
      if (touched && failure) r.error = *failure;
      if ((touched && failure) || r.done == r.sequences.size()) {
        r.finished = true;
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
  }
  done_cv_.notify_all();
}

}  // namespace xervo::llamacpp
