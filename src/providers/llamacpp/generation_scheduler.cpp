// GenerationScheduler: parallel generation slots sharing each llama_decode step.
#include <atomic>
#include <optional>
#include <utility>

#include "core/log.h"
#include "providers/llamacpp/scheduler.h"
#include "providers/llamacpp/stop_matcher.h"

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
  Sampler sampler;  // scheduler thread only
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
  llama_seq_id seq = 0;
  size_t prompt_done = 0;  // prompt tokens already sent to decode
  llama_pos n_past = 0;    // next position of this sequence
  llama_token next = 0;    // sampled token to feed in the next step
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

GenerationScheduler::GenerationScheduler(std::shared_ptr<const llama_model> model, ThreadpoolPtr threads,
                                         ContextPtr ctx, SchedulerConfig config,
                                         std::shared_ptr<ComputeLane> lane)
    : model_(std::move(model)),
      threads_(std::move(threads)),
      ctx_(std::move(ctx)),
      config_(std::move(config)),
      lane_(std::move(lane)),
      slots_(static_cast<size_t>(config_.n_seq_max)),
      batch_(config_.n_batch) {
  for (size_t i = 0; i < slots_.size(); ++i) slots_[i].seq = static_cast<llama_seq_id>(i);
  lane_->attach(this);
}

GenerationScheduler::~GenerationScheduler() {
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
  ctx_.reset();
}

Result<GenerateResult> GenerationScheduler::run(GenerationJob job, const TokenCallback& on_piece,
                                                std::stop_token cancel) {
  if (job.prompt.empty()) return Error(ErrorCode::invalid_input, "the prompt is empty");
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
  return result;
}

bool GenerationScheduler::step() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return false;
    bool busy = !queue_.empty();
    for (const auto& s : slots_) busy = busy || s.req != nullptr;
    if (!busy) return false;
  }
  admit();
  return decode_step();
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
  const llama_memory_t mem = llama_get_memory(ctx_.get());
  for (Slot* slot : admitted) {
    const Tokens& prompt = slot->req->prompt;
    // The last prompt token is always decoded again: its logits give the first new token.
    size_t keep = std::min(common_prefix(slot->cached, prompt), prompt.size() - 1);
    if (keep == 0 || !llama_memory_seq_rm(mem, slot->seq, static_cast<llama_pos>(keep), -1)) {
      llama_memory_seq_rm(mem, slot->seq, -1, -1);  // memory that cannot cut a sequence starts over
      keep = 0;
    }
    slot->cached.resize(keep);
    slot->prompt_done = keep;
    slot->n_past = static_cast<llama_pos>(keep);
    slot->out_index = -1;
  }
}

// One decode step over every busy slot. Returns false when no slot had work.
bool GenerationScheduler::decode_step() {
  const llama_memory_t mem = llama_get_memory(ctx_.get());
  const llama_vocab* vocab = llama_model_get_vocab(model_.get());
  auto release = [&](Slot& slot, FinishReason why, std::optional<Error> err = std::nullopt) {
    Request& r = *slot.req;
    if (!err && why != FinishReason::cancelled) {
      // What was held back as a possible stop-string start is plain text after all.
      r.send(r.matcher.flush());
    }
    const bool failed = err.has_value();
    r.finish(why, std::move(err));
    if (failed) {  // after a failed decode the sequence's memory is unknown: forget it
      llama_memory_seq_rm(mem, slot.seq, -1, -1);
      slot.cached.clear();
    }
    slot.req.reset();
    slot.out_index = -1;
  };

  for (auto& slot : slots_)
    if (slot.req && slot.req->cancel.load()) release(slot, FinishReason::cancelled);

  batch_.clear();
  // Streams already generating go first: one token each, so a long prompt never stalls them.
  for (auto& slot : slots_) {
    if (!slot.req || slot.prompt_done < slot.req->prompt.size()) continue;
    slot.out_index = batch_.add(slot.next, slot.n_past++, slot.seq, true);
    slot.cached.push_back(slot.next);
  }
  // Then as much of the waiting prompts as fits.
  for (auto& slot : slots_) {
    if (!slot.req || slot.prompt_done >= slot.req->prompt.size() || batch_.room() == 0) continue;
    const Tokens& prompt = slot.req->prompt;
    const size_t n = std::min(prompt.size() - slot.prompt_done, static_cast<size_t>(batch_.room()));
    for (size_t k = 0; k < n; ++k) {
      const size_t i = slot.prompt_done + k;
      const bool last = i + 1 == prompt.size();
      const int32_t idx = batch_.add(prompt[i], slot.n_past++, slot.seq, last);
      slot.cached.push_back(prompt[i]);
      if (last) slot.out_index = idx;
    }
    slot.prompt_done += n;
  }
  if (batch_.size() == 0) return false;

  const int32_t rc = llama_decode(ctx_.get(), batch_.get());
  if (rc != 0) {
    const Error err(ErrorCode::inference_failed,
                    config_.model_name + ": llama_decode failed with code " + std::to_string(rc) +
                        (rc == 1 ? " (no room in the KV cache: lower parallel or raise context_size)" : ""));
    spdlog::error("{}", err.to_string());
    for (auto& slot : slots_)
      if (slot.req) release(slot, FinishReason::stop, err);
    return true;
  }

  for (auto& slot : slots_) {
    if (!slot.req || slot.out_index < 0) continue;
    Request& r = *slot.req;
    const llama_token tok = r.sampler.sample(ctx_.get(), slot.out_index);
    slot.out_index = -1;
    if (llama_vocab_is_eog(vocab, tok)) {
      release(slot, FinishReason::stop);
      continue;
    }
    ++r.generated;
    r.utf8_tail += token_piece(vocab, tok);
    const size_t complete = utf8_complete_prefix(r.utf8_tail);
    auto matched = r.matcher.push(utf8_sanitize(std::string_view(r.utf8_tail).substr(0, complete)));
    r.utf8_tail.erase(0, complete);
    r.send(std::move(matched.emit));
    if (matched.stopped) {
      release(slot, FinishReason::stop);
    } else if (r.generated >= r.max_tokens || slot.n_past + 1 >= config_.n_ctx_seq) {
      // prompt + answer stay within context_size
      release(slot, FinishReason::length);
    } else {
      slot.next = tok;
    }
  }
  return true;
}

}  // namespace xervo::llamacpp
