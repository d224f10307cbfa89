// GenerationScheduler: parallel generation slots sharing each llama_decode step.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>

#include "core/log.h"
#include "core/trace.h"
#include "providers/llamacpp/scheduler.h"
#include "providers/llamacpp/stop_matcher.h"
#include "providers/llamacpp/utf8.h"

namespace xervo::llamacpp {
namespace {

// One generated sequence of a request. The scheduler thread owns it until the request finishes.
struct Choice {
  Choice(std::unique_ptr<TokenSampler> s, std::vector<std::string> stops)
      : sampler(std::move(s)), matcher(std::move(stops)) {}

  // A token's logprob waits for its text: it goes out with the last byte of that text, so a stream
  // never reports a token before showing it, and the tokens of a stop string (never shown) are not
  // reported. `begin` and `end` are offsets in the text handed to the stop matcher.
  struct Held {
    size_t begin = 0;
    size_t end = 0;
    TokenLogprob logprob;
  };

  std::unique_ptr<TokenSampler> sampler;
  StopMatcher matcher;
  std::string utf8_tail;  // bytes of an unfinished character
  int generated = 0;
  FinishReason reason = FinishReason::stop;
  std::string stop_sequence;  // the stop string that ended it
  std::deque<Held> held;
  size_t pushed = 0;   // bytes handed to the matcher
  size_t emitted = 0;  // bytes sent
};

// Which held logprobs a piece of text takes along.
enum class Drain {
  sent,     // those whose text has all been sent
  stopped,  // those with any of their text sent; the rest belonged to the stop string
  all,      // the generation ended: every one
};

size_t common_prefix(const Tokens& a, const Tokens& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

}  // namespace

// One generation of one or more sequences. The scheduler thread owns the generation state; text
// reaches the caller's thread through the channel (chan_mu).
struct GenerationScheduler::Request {
  explicit Request(GenerationJob job)
      : prompt(std::move(job.prompt)), max_tokens(job.max_tokens), priority(job.priority) {
    choices.reserve(1 + job.siblings.size());
    choices.emplace_back(std::move(job.sampler), job.stops);
    for (auto& s : job.siblings) choices.emplace_back(std::move(s), job.stops);
    running = choices.size();
  }

  const Tokens prompt;
  const int max_tokens;
  const Priority priority;
  int passed_over = 0;           // under the scheduler's mu_: interactive requests admitted before it
  std::vector<Choice> choices;   // scheduler thread only
  size_t running = 0;            // scheduler thread only: sequences still in a slot
  bool prompt_shared = false;    // scheduler thread only: the others have their copy of the prompt
  std::optional<Error> failure;  // scheduler thread only: the first error of any sequence
  std::atomic<bool> cancel{false};
  // Scheduler thread until `finished`, then the caller's: when the request took its slots, when its
  // prompt's last token was decoded (the first token's logits), when it ended; for its spans.
  using Clock = std::chrono::steady_clock;
  const Clock::time_point queued = Clock::now();
  std::optional<Clock::time_point> admitted, prompt_done;
  Clock::time_point ended;
  size_t prompt_reused = 0;  // prompt tokens a slot's cache already held

  std::mutex chan_mu;
  std::condition_variable chan_cv;
  std::deque<GenerateDelta> deltas;  // GUARDED_BY(chan_mu)
  bool finished = false;             // GUARDED_BY(chan_mu)
  std::optional<Error> error;        // GUARDED_BY(chan_mu)

  // Sends `text` of sequence `index` with the logprobs it completes.
  void emit(size_t index, std::string text, Drain drain) {
    Choice& c = choices[index];
    GenerateDelta delta;
    delta.choice = static_cast<int>(index);
    c.emitted += text.size();
    delta.content = std::move(text);
    while (!c.held.empty() && (drain == Drain::all || c.held.front().end <= c.emitted ||
                               (drain == Drain::stopped && c.held.front().begin < c.emitted))) {
      delta.logprobs.push_back(std::move(c.held.front().logprob));
      c.held.pop_front();
    }
    if (drain != Drain::sent) c.held.clear();
    if (delta.content.empty() && delta.logprobs.empty()) return;
    {
      std::lock_guard lk(chan_mu);
      deltas.push_back(std::move(delta));
    }
    chan_cv.notify_one();
  }
  // On the caller's thread once finished: the queue wait (metrics) and the spans of the request's
  // phases, children of the caller's current span: queue, prompt (up to the first token's logits) and
  // generate (the decode steps after it, one span whatever the token count).
  void record_phases(int64_t prompt_tokens) const {
    if (!admitted) return;  // failed or cancelled while queued: nothing ran
    trace::add_queue_wait(*admitted - queued);
    if (!trace::current() || !trace::current()->recording()) return;
    trace::record_span("queue", queued, *admitted);
    const auto first = prompt_done.value_or(ended);
    trace::record_span("prompt", *admitted, first,
                       {{"gen_ai.usage.input_tokens", prompt_tokens},
                        {"xervo.prompt.cached_tokens", static_cast<int64_t>(prompt_reused)}});
    if (!prompt_done) return;
    int64_t generated = 0;
    std::vector<std::string> reasons;
    for (const auto& c : choices) {
      generated += c.generated;
      reasons.emplace_back(to_string(cancel.load() ? FinishReason::cancelled : c.reason));
    }
    trace::record_span("generate", first, ended,
                       {{"gen_ai.usage.output_tokens", generated},
                        {"gen_ai.response.finish_reasons", std::move(reasons)},
                        {"gen_ai.request.max_tokens", static_cast<int64_t>(max_tokens)}});
  }

  // Ends the request for its caller; the first call counts (the destructor may end it again).
  void finish(std::optional<Error> err = std::nullopt) {
    {
      std::lock_guard lk(chan_mu);
      if (finished) return;
      finished = true;
      ended = Clock::now();
      error = std::move(err);
    }
    chan_cv.notify_one();
  }
};

struct GenerationScheduler::Slot {
  std::shared_ptr<Request> req;  // null when free
  size_t choice = 0;             // which of req's sequences
  bool awaiting_prompt = false;  // a sequence after the first: waits for the prompt to be copied in
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

GenerationScheduler::GenerationScheduler(std::unique_ptr<Engine> engine, SchedulerConfig config,
                                         std::shared_ptr<ComputeLane> lane)
    : engine_(std::move(engine)),
      config_(std::move(config)),
      lane_(std::move(lane)),
      slots_(static_cast<size_t>(config_.n_seq_max)),
      batch_slots_(config_.batch_slots > 0 ? std::min(config_.batch_slots, config_.n_seq_max)
                                           : std::max(1, (config_.n_seq_max + 1) / 2)) {
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
    if (slot.req) slot.req->finish(gone);
  std::deque<std::shared_ptr<Request>> left;
  {
    std::lock_guard lk(mu_);
    left.swap(queue_);
  }
  for (auto& r : left) r->finish(gone);
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
  DeltaCallback first_text;
  if (on_piece)
    first_text = [&](const GenerateDelta& d) {
      return d.choice != 0 || d.content.empty() || on_piece(d.content);
    };
  return run(std::move(job), first_text, std::move(cancel));
}

Result<GenerateResult> GenerationScheduler::run(GenerationJob job, const DeltaCallback& on_delta,
                                                std::stop_token cancel) {
  const Callers::Pass inside = callers_.enter();
  if (!inside) return Error(ErrorCode::unavailable, config_.model_name + " is being unloaded");
  if (job.prompt.empty()) return Error(ErrorCode::invalid_input, "the prompt is empty");
  if (!job.sampler) return Error(ErrorCode::internal, "a generation needs a sampler");
  for (const auto& s : job.siblings)
    if (!s) return Error(ErrorCode::internal, "a generation needs a sampler per sequence");
  const size_t n = 1 + job.siblings.size();
  if (n > static_cast<size_t>(config_.n_seq_max))
    return Error(ErrorCode::invalid_input,
                 "n = " + std::to_string(n) + " sequences, but " + config_.model_name + " has " +
                     std::to_string(config_.n_seq_max) +
                     " parallel slots and each sequence takes one: ask for at most " +
                     std::to_string(config_.n_seq_max) + " or raise parallel");
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

  std::vector<GenerateChoice> out(n);
  bool caller_cancelled = false;
  std::deque<GenerateDelta> got;
  for (;;) {
    bool done = false;
    {
      std::unique_lock lk(req->chan_mu);
      req->chan_cv.wait(lk, [&] { return !req->deltas.empty() || req->finished; });
      got.swap(req->deltas);
      done = req->finished;
    }
    for (auto& delta : got) {
      if (caller_cancelled) break;
      auto& choice = out[static_cast<size_t>(delta.choice)];
      choice.text += delta.content;
      choice.logprobs.insert(choice.logprobs.end(), delta.logprobs.begin(), delta.logprobs.end());
      if (!on_delta) continue;
      bool go_on = false;
      try {
        go_on = on_delta(delta);
      } catch (...) {
        request_cancel();  // the slots are freed by the scheduler; the exception is the caller's
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
  // `finished` was read under chan_mu: what the scheduler wrote before it is visible here.
  req->record_phases(prompt_tokens);
  std::lock_guard lk(req->chan_mu);  // the scheduler is done with req: its state is ours to read
  if (req->error) return *req->error;
  const bool cancelled = caller_cancelled || cancel.stop_requested();
  GenerateResult result;
  result.usage.prompt_tokens = prompt_tokens;  // evaluated once, whatever n
  for (size_t i = 0; i < n; ++i) {
    out[i].finish_reason = cancelled ? FinishReason::cancelled : req->choices[i].reason;
    out[i].stop_sequence = req->choices[i].stop_sequence;
    result.usage.completion_tokens += req->choices[i].generated;
  }
  static_cast<GenerateChoice&>(result) = std::move(out[0]);
  for (size_t i = 1; i < n; ++i) result.more.push_back(std::move(out[i]));
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
    // In next_to_admit's order; the request chosen waits until it has a slot for each of its
    // sequences (nothing passes it meanwhile, so a wide request is not starved by narrow ones).
    // Its first sequence goes to the free slot whose cached tokens share the longest prefix with
    // its prompt.
    int batch_busy = 0;
    for (const auto& slot : slots_) batch_busy += slot.req && slot.req->priority == Priority::batch;
    for (;;) {
      auto next = next_to_admit(batch_busy);
      if (next == queue_.end()) break;
      const std::shared_ptr<Request> head = *next;
      std::vector<Slot*> free;
      for (auto& slot : slots_)
        if (!slot.req) free.push_back(&slot);
      if (free.size() < head->choices.size()) break;
      auto best = std::max_element(free.begin(), free.end(), [&](Slot* a, Slot* b) {
        return common_prefix(a->cached, head->prompt) < common_prefix(b->cached, head->prompt);
      });
      std::iter_swap(free.begin(), best);
      head->admitted = Request::Clock::now();
      for (size_t i = 0; i < head->choices.size(); ++i) {
        free[i]->req = head;
        free[i]->choice = i;
        admitted.push_back(free[i]);
      }
      queue_.erase(next);
      if (head->priority == Priority::batch) {
        batch_busy += static_cast<int>(head->choices.size());
      } else if (batch_busy == 0) {
        // A batch request waiting while no batch work runs was passed over once more.
        for (auto& r : queue_)
          if (r->priority == Priority::batch) {
            ++r->passed_over;
            break;
          }
      }
    }
  }
  for (auto& r : cancelled) r->finish();
  for (Slot* slot : admitted) place(*slot);
}

std::deque<std::shared_ptr<GenerationScheduler::Request>>::iterator GenerationScheduler::next_to_admit(
    int batch_busy) {
  auto is = [](Priority p) { return [p](const std::shared_ptr<Request>& r) { return r->priority == p; }; };
  const auto interactive = std::find_if(queue_.begin(), queue_.end(), is(Priority::interactive));
  const auto batch = std::find_if(queue_.begin(), queue_.end(), is(Priority::batch));
  // Batch sequences stay within their share of the slots; one request wider than the share may
  // still run when no other batch work does.
  const bool batch_fits =
      batch != queue_.end() &&
      (batch_busy == 0 || batch_busy + static_cast<int>((*batch)->choices.size()) <= batch_slots_);
  // The guarantee against starvation: while no batch work runs, a batch request passed over
  // batch_patience times goes before the interactive requests.
  const bool batch_due = batch_fits && batch_busy == 0 && (*batch)->passed_over >= config_.batch_patience;
  if (interactive != queue_.end() && !batch_due) return interactive;
  return batch_fits ? batch : queue_.end();
}

void GenerationScheduler::place(Slot& slot) {
  const Tokens& prompt = slot.req->prompt;
  slot.out_index = -1;
  if (slot.choice > 0) {  // its memory becomes a copy of the first sequence's (share_prompts)
    slot.awaiting_prompt = true;
    slot.cached.clear();
    slot.prompt_done = 0;
    slot.n_past = 0;
    return;
  }
  // The last prompt token is always decoded again: its logits give the first new token.
  size_t keep = std::min(common_prefix(slot.cached, prompt), prompt.size() - 1);
  if (keep == 0 || !engine_->memory_trim(slot.seq, static_cast<Pos>(keep))) {
    engine_->memory_trim(slot.seq, 0);  // memory that cannot cut a sequence starts over
    keep = 0;
  }
  slot.cached.resize(keep);
  slot.req->prompt_reused = keep;
  slot.prompt_done = keep;
  slot.n_past = static_cast<Pos>(keep);
}

void GenerationScheduler::release(Slot& slot, FinishReason why, std::optional<Error> err) {
  Request& r = *slot.req;
  Choice& c = r.choices[slot.choice];
  if (!err && why != FinishReason::cancelled) {
    // What was held back as a possible stop-string start is plain text after all.
    r.emit(slot.choice, c.matcher.flush(), Drain::all);
  }
  c.reason = why;
  const bool failed = err.has_value();
  if (failed && !r.failure) r.failure = std::move(err);
  if (failed || slot.awaiting_prompt) {  // the sequence's memory is unknown or not yet its own: forget it
    engine_->memory_trim(slot.seq, 0);
    slot.cached.clear();
  }
  std::shared_ptr<Request> req = std::move(slot.req);
  slot.out_index = -1;
  slot.awaiting_prompt = false;
  if (slot.choice == 0 && !r.prompt_shared) {
    // The others wait for this sequence's prompt, which will never come: they end the same way.
    for (auto& other : slots_)
      if (other.req == req) release(other, why, r.failure);
  }
  if (--r.running == 0) r.finish(std::move(r.failure));
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
  const auto decoded = Request::Clock::now();
  for (auto& slot : slots_)
    if (slot.req && slot.choice == 0 && slot.out_index >= 0 && !slot.req->prompt_done)
      slot.req->prompt_done = decoded;
  share_prompts();
  sample_outputs();
  return true;
}

void GenerationScheduler::fill_batch() {
  engine_->batch_clear();
  // Interactive work first: its streams, one token each (the batch holds at least one token per
  // slot, so a long prompt never stalls them), then its prompts, as much as fits.
  size_t interactive = 0;
  for (auto& slot : slots_)
    if (slot.req && slot.req->priority == Priority::interactive) interactive += feed_stream(slot);
  for (auto& slot : slots_)
    if (slot.req && slot.req->priority == Priority::interactive) interactive += feed_prompt(slot, SIZE_MAX);
  // Batch work gets the room left, but beside interactive tokens only one batch token per
  // batch_token_ratio of them (credit carried from step to step, at most one token per batch slot
  // ahead): a batch sequence slows interactive steps by that fraction at most, and still advances.
  size_t allowance = SIZE_MAX;
  const auto ratio = static_cast<size_t>(std::max(1, config_.batch_token_ratio));
  if (interactive > 0) {
    batch_credit_ = std::min(batch_credit_ + interactive, ratio * static_cast<size_t>(batch_slots_));
    allowance = batch_credit_ / ratio;
  }
  size_t used = 0;
  for (auto& slot : slots_)
    if (slot.req && slot.req->priority == Priority::batch && used < allowance) used += feed_stream(slot);
  for (auto& slot : slots_)
    if (slot.req && slot.req->priority == Priority::batch) used += feed_prompt(slot, allowance - used);
  batch_credit_ = interactive > 0 ? batch_credit_ - used * ratio : 0;
}

size_t GenerationScheduler::feed_stream(Slot& slot) {
  if (slot.awaiting_prompt || slot.prompt_done < slot.req->prompt.size() || engine_->batch_room() == 0)
    return 0;
  slot.out_index = engine_->batch_add(slot.next, slot.n_past++, slot.seq, true);
  slot.cached.push_back(slot.next);
  return 1;
}

size_t GenerationScheduler::feed_prompt(Slot& slot, size_t limit) {
  if (slot.awaiting_prompt || slot.prompt_done >= slot.req->prompt.size() || engine_->batch_room() == 0)
    return 0;
  const Tokens& prompt = slot.req->prompt;
  const size_t n =
      std::min({prompt.size() - slot.prompt_done, static_cast<size_t>(engine_->batch_room()), limit});
  for (size_t k = 0; k < n; ++k) {
    const size_t i = slot.prompt_done + k;
    const bool last = i + 1 == prompt.size();
    const int32_t idx = engine_->batch_add(prompt[i], slot.n_past++, slot.seq, last);
    slot.cached.push_back(prompt[i]);
    if (last) {
      slot.out_index = idx;
      prompt_evaluations_.fetch_add(1);
    }
  }
  prompt_tokens_decoded_.fetch_add(n);
  slot.prompt_done += n;
  return n;
}

void GenerationScheduler::share_prompts() {
  // The first output of a request's first sequence comes from its prompt's last token: the prompt
  // is in its memory now. The other sequences copy that memory and draw their first token from the
  // same logits, each with its own sampler.
  for (auto& first : slots_) {
    if (!first.req || first.choice != 0 || first.out_index < 0 || first.req->prompt_shared) continue;
    first.req->prompt_shared = true;
    for (auto& other : slots_) {
      if (&other == &first || other.req != first.req) continue;
      engine_->memory_copy(first.seq, other.seq);
      other.awaiting_prompt = false;
      other.cached = first.cached;
      other.prompt_done = first.req->prompt.size();
      other.n_past = first.n_past;
      other.out_index = first.out_index;
    }
  }
}

void GenerationScheduler::sample_outputs() {
  for (auto& slot : slots_) {
    if (!slot.req || slot.out_index < 0) continue;
    Request& r = *slot.req;
    Choice& c = r.choices[slot.choice];
    SampledToken picked = c.sampler->next(slot.out_index);
    slot.out_index = -1;
    if (engine_->is_end_of_generation(picked.token)) {
      release(slot, FinishReason::stop);
      continue;
    }
    ++c.generated;
    c.utf8_tail += engine_->token_text(picked.token);
    const size_t complete = utf8_complete_prefix(c.utf8_tail);
    std::string text = utf8_sanitize(std::string_view(c.utf8_tail).substr(0, complete));
    c.utf8_tail.erase(0, complete);
    if (picked.logprob) c.held.push_back({c.pushed, c.pushed + text.size(), std::move(*picked.logprob)});
    c.pushed += text.size();
    auto matched = c.matcher.push(text);
    r.emit(slot.choice, std::move(matched.emit), matched.stopped ? Drain::stopped : Drain::sent);
    if (matched.stopped) {
      c.stop_sequence = std::move(matched.matched);
      release(slot, FinishReason::stop);
    } else if (c.generated >= r.max_tokens || slot.n_past + 1 >= config_.n_ctx_seq) {
      // prompt + answer stay within context_size
      release(slot, FinishReason::length);
    } else {
      slot.next = picked.token;
    }
  }
}

}  // namespace xervo::llamacpp
