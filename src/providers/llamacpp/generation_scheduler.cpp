// GenerationScheduler: parallel generation slots sharing each llama_decode step.
#include <algorithm>
#include <atomic>
#include <optional>
#include <utility>

#include "core/log.h"
#include "providers/llamacpp/scheduler.h"
#include "providers/llamacpp/stop_matcher.h"
#include "providers/llamacpp/utf8.h"

namespace xervo::llamacpp {

// One generation. The scheduler thread owns the generation state; text reaches the caller's
// thread through the channel (chan_mu).
struct GenerationScheduler::Request {
  Request(GenerationJob job)
      : prompt(std::move(job.prompt)),
        sampler(std::move(job.sampler)),
        max_tokens(job.max_tokens),
        matcher(std::move(job.stops)) {}

  const Tokens prompt;
  std::unique_ptr<TokenSampler> sampler;  // scheduler thread only
  const int max_tokens;
  StopMatcher matcher;    // scheduler thread only
  std::string utf8_tail;  // scheduler thread only: bytes of an unfinished character
  int generated = 0;      // scheduler thread only
  std::atomic<bool> cancel{false};

  std::mutex chan_mu;
  std::condition_variable chan_cv;
  std::deque<std::string> pieces;            // GUARDED_BY(chan_mu)
  bool finished = false;                     // GUARDED_BY(chan_mu)
  FinishReason reason = FinishReason::stop;  // GUARDED_BY(chan_mu)
  std::string stop_sequence;                 // GUARDED_BY(chan_mu): the stop string that ended it
  std::optional<Error> error;                // GUARDED_BY(chan_mu)

  void send(std::string piece) {
    if (piece.empty()) return;
    {
      std::lock_guard lk(chan_mu);
      pieces.push_back(std::move(piece));
    }
    chan_cv.notify_one();
  }
  void finish(FinishReason why, std::optional<Error> err = std::nullopt) {
    {
      std::lock_guard lk(chan_mu);
      finished = true;
      reason = why;
      error = std::move(err);
    }
    chan_cv.notify_one();
  }
};

struct GenerationScheduler::Slot {
  std::shared_ptr<Request> req;  // null when free
  SeqId seq = 0;
  size_t prompt_done = 0;  // prompt tokens already sent to decode
  Pos n_past = 0;          // next position of this sequence
  Token next = 0;          // sampled token to feed in the next step
  int32_t out_index = -1;  // batch index of this slot's logits in the current step
  // The tokens whose keys and values sit in this slot's sequence, by position. Kept after a request
  // ends so that the next prompt sharing a prefix with it (a chat's history, a fixed system prompt)
  // only decodes what is new.
  Tokens cached;
};

namespace {

size_t common_prefix(const Tokens& a, const Tokens& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

}  // namespace

GenerationScheduler::GenerationScheduler(std::unique_ptr<Engine> engine, SchedulerConfig config,
                                         std::shared_ptr<ComputeLane> lane)
    : engine_(std::move(engine)),
      config_(std::move(config)),
      lane_(std::move(lane)),
      slots_(static_cast<size_t>(config_.n_seq_max)) {
  for (size_t i = 0; i < slots_.size(); ++i) slots_[i].seq = static_cast<SeqId>(i);
  lane_->attach(this);
}

GenerationScheduler::~GenerationScheduler() {
  callers_.close();
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  lane_->detach(this);  // no step runs from here on: the slots are this thread's
  const Error gone(ErrorCode::unavailable, config_.model_name + " was unloaded while the request ran");
  for (auto& slot : slots_)
    if (slot.req) slot.req->finish(FinishReason::stop, gone);
  std::deque<std::shared_ptr<Request>> left;
  {
    std::lock_guard lk(mu_);
    left.swap(queue_);
  }
  for (auto& r : left) r->finish(FinishReason::stop, gone);
  callers_.wait_until_empty();  // callers woken above still use lane_ on their way out
  engine_.reset();
}

size_t GenerationScheduler::waiting() const {
  std::lock_guard lk(mu_);
  return queue_.size();
}

void GenerationScheduler::set_decode_observer(DecodeObserver observer) {
  std::lock_guard lk(mu_);
  observer_ = std::move(observer);
}

Result<GenerateResult> GenerationScheduler::run(GenerationJob job, const TokenCallback& on_piece,
                                                std::stop_token cancel) {
  const Callers::Pass inside = callers_.enter();
  if (!inside) return Error(ErrorCode::unavailable, config_.model_name + " is being unloaded");
  if (job.prompt.empty()) return Error(ErrorCode::invalid_input, "the prompt is empty");
  if (!job.sampler) return Error(ErrorCode::internal, "a generation needs a sampler");
  const auto prompt_tokens = static_cast<int64_t>(job.prompt.size());
  auto req = std::make_shared<Request>(std::move(job));
  auto request_cancel = [this, &req] {
    req->cancel.store(true);
    lane_->notify();
  };
  // Registered before the request is queued: a token already stopped marks it cancelled before the
  // scheduler can see it, so not one token is generated for it.
  std::stop_callback on_stop(cancel, request_cancel);
  {
    std::lock_guard lk(mu_);
    if (stopping_) return Error(ErrorCode::unavailable, config_.model_name + " is being unloaded");
    if (static_cast<int>(queue_.size()) >= config_.queue_limit)
      return Error(ErrorCode::unavailable,
                   config_.model_name + ": " + std::to_string(queue_.size()) +
                       " requests already waiting for a slot (queue_limit); retry later");
    queue_.push_back(req);
  }
  lane_->notify();

  std::string text;
  bool caller_cancelled = false;
  std::deque<std::string> got;
  for (;;) {
    bool done = false;
    {
      std::unique_lock lk(req->chan_mu);
      req->chan_cv.wait(lk, [&] { return !req->pieces.empty() || req->finished; });
      got.swap(req->pieces);
      done = req->finished;
    }
    for (auto& piece : got) {
      if (caller_cancelled) break;
      text += piece;
      if (!on_piece) continue;
      bool go_on = false;
      try {
        go_on = on_piece(piece);
      } catch (...) {
        request_cancel();  // the slot is freed by the scheduler; the exception is the caller's
        throw;
      }
      if (!go_on) {
        caller_cancelled = true;
        request_cancel();
      }
    }
    got.clear();
    if (done) break;
  }
  std::lock_guard lk(req->chan_mu);
  if (req->error) return *req->error;
  GenerateResult result;
  result.text = std::move(text);
  result.finish_reason = caller_cancelled || cancel.stop_requested() ? FinishReason::cancelled : req->reason;
  result.usage.prompt_tokens = prompt_tokens;
  result.usage.completion_tokens = req->generated;
  result.stop_sequence = std::move(req->stop_sequence);
  return result;
}

bool GenerationScheduler::step() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return false;
  }
  if (!has_work()) return false;
  // Cancelled slots are freed before admission, so the requests queued behind them take their
  // place in this very step: a step that only freed slots would decode nothing and, reported as
  // idle, leave the queue waiting for an unrelated notify.
  release_cancelled();
  admit();
  const bool decoded = decode_step();
  return decoded || has_work();
}

bool GenerationScheduler::has_work() const {
  for (const auto& s : slots_)
    if (s.req) return true;
  std::lock_guard lk(mu_);
  return !queue_.empty();
}

void GenerationScheduler::release_cancelled() {
  for (auto& slot : slots_)
    if (slot.req && slot.req->cancel.load()) release(slot, FinishReason::cancelled);
}

void GenerationScheduler::admit() {
  std::vector<std::shared_ptr<Request>> cancelled;
  std::vector<Slot*> admitted;
  {
    std::lock_guard lk(mu_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      if ((*it)->cancel.load()) {
        cancelled.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    // FIFO; each request goes to the free slot whose cached tokens share the longest prefix with it.
    while (!queue_.empty()) {
      Slot* best = nullptr;
      size_t best_common = 0;
      for (auto& slot : slots_) {
        if (slot.req) continue;
        const size_t common = common_prefix(slot.cached, queue_.front()->prompt);
        if (!best || common > best_common) {
          best = &slot;
          best_common = common;
        }
      }
      if (!best) break;
      best->req = std::move(queue_.front());
      queue_.pop_front();
      admitted.push_back(best);
    }
  }
  for (auto& r : cancelled) r->finish(FinishReason::cancelled);
  for (Slot* slot : admitted) {
    const Tokens& prompt = slot->req->prompt;
    // The last prompt token is always decoded again: its logits give the first new token.
    size_t keep = std::min(common_prefix(slot->cached, prompt), prompt.size() - 1);
    if (keep == 0 || !engine_->memory_trim(slot->seq, static_cast<Pos>(keep))) {
      engine_->memory_trim(slot->seq, 0);  // memory that cannot cut a sequence starts over
      keep = 0;
    }
    slot->cached.resize(keep);
    slot->prompt_done = keep;
    slot->n_past = static_cast<Pos>(keep);
    slot->out_index = -1;
  }
}

void GenerationScheduler::release(Slot& slot, FinishReason why, std::optional<Error> err) {
  Request& r = *slot.req;
  if (!err && why != FinishReason::cancelled) {
    // What was held back as a possible stop-string start is plain text after all.
    r.send(r.matcher.flush());
  }
  const bool failed = err.has_value();
  r.finish(why, std::move(err));
  if (failed) {  // after a failed decode the sequence's memory is unknown: forget it
    engine_->memory_trim(slot.seq, 0);
    slot.cached.clear();
  }
  slot.req.reset();
  slot.out_index = -1;
}

// One decode step over every busy slot. Returns false when no slot had work.
bool GenerationScheduler::decode_step() {
  fill_batch();
  if (engine_->batch_size() == 0) return false;
  DecodeObserver observer;
  {
    std::lock_guard lk(mu_);
    observer = observer_;
  }
  const int32_t rc = engine_->decode();
  const uint64_t n = decodes_.fetch_add(1) + 1;
  if (observer) observer(n);
  if (rc != 0) {
    const Error err(ErrorCode::inference_failed,
                    config_.model_name + ": llama_decode failed with code " + std::to_string(rc) +
                        (rc == 1 ? " (no room in the KV cache: lower parallel or raise context_size)" : ""));
    spdlog::error("{}", err.to_string());
    for (auto& slot : slots_)
      if (slot.req) release(slot, FinishReason::stop, err);
    return true;
  }
  sample_outputs();
  return true;
}

void GenerationScheduler::fill_batch() {
  engine_->batch_clear();
  // Streams already generating go first: one token each, so a long prompt never stalls them (the
  // batch holds at least one token per slot).
  for (auto& slot : slots_) {
    if (!slot.req || slot.prompt_done < slot.req->prompt.size()) continue;
    slot.out_index = engine_->batch_add(slot.next, slot.n_past++, slot.seq, true);
    slot.cached.push_back(slot.next);
  }
  // Then as much of the waiting prompts as fits.
  for (auto& slot : slots_) {
    if (!slot.req || slot.prompt_done >= slot.req->prompt.size() || engine_->batch_room() == 0) continue;
    const Tokens& prompt = slot.req->prompt;
    const size_t n = std::min(prompt.size() - slot.prompt_done, static_cast<size_t>(engine_->batch_room()));
    for (size_t k = 0; k < n; ++k) {
      const size_t i = slot.prompt_done + k;
      const bool last = i + 1 == prompt.size();
      const int32_t idx = engine_->batch_add(prompt[i], slot.n_past++, slot.seq, last);
      slot.cached.push_back(prompt[i]);
      if (last) slot.out_index = idx;
    }
    slot.prompt_done += n;
  }
}

void GenerationScheduler::sample_outputs() {
  for (auto& slot : slots_) {
    if (!slot.req || slot.out_index < 0) continue;
    Request& r = *slot.req;
    const Token tok = r.sampler->next(slot.out_index);
    slot.out_index = -1;
    if (engine_->is_end_of_generation(tok)) {
      release(slot, FinishReason::stop);
      continue;
    }
    ++r.generated;
    r.utf8_tail += engine_->token_text(tok);
    const size_t complete = utf8_complete_prefix(r.utf8_tail);
    auto matched = r.matcher.push(utf8_sanitize(std::string_view(r.utf8_tail).substr(0, complete)));
    r.utf8_tail.erase(0, complete);
    r.send(std::move(matched.emit));
    if (matched.stopped) {
      {
        std::lock_guard lk(r.chan_mu);
        r.stop_sequence = std::move(matched.matched);
      }
      release(slot, FinishReason::stop);
    } else if (r.generated >= r.max_tokens || slot.n_past + 1 >= config_.n_ctx_seq) {
      // prompt + answer stay within context_size
      release(slot, FinishReason::length);
    } else {
      slot.next = tok;
    }
  }
}

}  // namespace xervo::llamacpp
