// The scheduler of one loaded model turns the requests of any number of caller threads into shared
// decode calls (continuous batching). Its steps run on the process's compute lane
// (core/compute_lane.h), the one thread that decodes for every model, so only that thread ever
// touches the model's context, which it reaches through an Engine (engine.h).
// - PooledScheduler (embed, rerank): inputs of different callers are packed into one batch, each
//   input its own sequence id; the pooled output of each sequence goes back to its caller.
// - GenerationScheduler: up to `slots` generated sequences share each decode step, each in its own
//   KV-cache sequence; a new request's prompt is processed in the same batch as the running streams'
//   next tokens. A request for n sequences takes n slots, evaluates its prompt in one and copies it to
//   the others. Pieces of text are handed to the caller's thread, so a slow stream consumer never
//   slows the others.
// Both honour a request's Priority (xervo/priority.h): waiting interactive requests start before
// waiting batch ones (pooled: their inputs go first into each batch; generation: they get the next
// free slots, and their prompts are fed first), and batch sequences hold at most `batch_slots`
// generation slots at once, so that interactive requests find free slots, and take at most one
// token of a decode step per `batch_token_ratio` interactive ones in it. Batch work never starves:
// while none of it runs, the oldest waiting batch request lets at most `batch_patience` interactive
// ones go before it (generation: requests given slots; pooled: batches formed), then it goes next.
// Callers block until their request is done; beyond `queue_limit` waiting requests a call fails at
// once with `unavailable`. A step reports work to the lane whenever anything is queued or running,
// so the lane never sleeps on queued work. Destroying a scheduler leaves the lane (waiting for a
// step in progress), fails what is still queued and frees the engine. Both classes are safe to call
// from any number of threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/compute_lane.h"
#include "providers/llamacpp/callers.h"
#include "providers/llamacpp/engine.h"
#include "xervo/error.h"
#include "xervo/generator.h"
#include "xervo/priority.h"

namespace xervo::llamacpp {

struct SchedulerConfig {
  std::string model_name;  // for messages: the file
  int n_batch = 512;       // tokens per decode
  int n_seq_max = 1;       // sequences per decode (pooled) or slots (generation)
  int n_ctx_seq = 512;     // positions one sequence may use
  int queue_limit = 64;    // waiting requests beyond which calls fail
  // Pooled: how long after a batch the next one may wait for as many inputs as that batch had.
  std::chrono::milliseconds gather{0};
  // Generation: slots batch sequences may hold at once (0: half the slots, rounded up). A batch
  // request wider than that still runs, alone among batch work.
  int batch_slots = 0;
  // Interactive requests (or, pooled, batches) a waiting batch request lets go first while no
  // batch work runs, before it goes next.
  int batch_patience = 4;
  // Generation: in decode steps with interactive tokens, at most one batch token per this many of
  // them (over time), so that batch sequences slow interactive streams by that fraction at most.
  int batch_token_ratio = 8;
};

// Called on the lane thread after every decode, with the number of decodes so far. For tests (to
// act at a known point of a request) and counters; it must not block for long.
using DecodeObserver = std::function<void(uint64_t decodes)>;

class PooledScheduler final : ComputeLane::Worker {
 public:
  // `n_outputs` floats are read per sequence. The engine's batch holds n_batch tokens.
  PooledScheduler(std::unique_ptr<Engine> engine, SchedulerConfig config, int n_outputs,
                  std::shared_ptr<ComputeLane> lane);
  ~PooledScheduler();
  PooledScheduler(const PooledScheduler&) = delete;
  PooledScheduler& operator=(const PooledScheduler&) = delete;

  // The pooled output of each sequence (each at most n_batch and n_ctx_seq tokens, checked by
  // the caller), in order. `cancel` abandons the call at once (cancelled): its inputs not yet in a
  // batch are dropped, those in the batch running now finish there.
  Result<std::vector<std::vector<float>>> run(std::vector<Tokens> sequences, std::stop_token cancel = {},
                                              Priority priority = Priority::interactive);

  uint64_t decode_calls() const { return decodes_.load(); }  // decodes since creation
  size_t waiting() const;                                    // requests queued, not yet finished
  void set_decode_observer(DecodeObserver observer);

 private:
  struct Request;
  struct Placed {
    Request* req;
    size_t index;
    SeqId seq;
  };
  bool step() override;  // one batch; lane thread
  // Lane thread: whether the batch may wait for more inputs (gather_ms); under mu_.
  bool hold_for_gather();
  // Lane thread, under mu_: pending_ gets the queue in the order a batch is filled.
  void order_pending();
  std::optional<Error> run_batch();  // fills and decodes one batch from pending_
  void finish_batch(const std::optional<Error>& failure);

  Callers callers_;                 // declared first: its destructor runs after every member's user left
  std::unique_ptr<Engine> engine_;  // lane thread only (and the destructor, after detach)
  SchedulerConfig config_;
  int n_outputs_;
  std::shared_ptr<ComputeLane> lane_;
  std::atomic<uint64_t> decodes_{0};
  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  std::deque<std::shared_ptr<Request>> queue_;  // GUARDED_BY(mu_): not yet finished, FIFO
  bool stopping_ = false;                       // GUARDED_BY(mu_)
  DecodeObserver observer_;                     // GUARDED_BY(mu_)
  // Lane thread only: where each input of the batch went.
  std::vector<Placed> placed_;
  std::vector<std::shared_ptr<Request>> pending_;
  size_t last_inputs_ = 0;                          // inputs of the last batch
  std::chrono::steady_clock::time_point last_end_;  // when it ended
};

// One generation as the scheduler runs it: prompt tokens, a sampler per sequence, limits.
struct GenerationJob {
  Tokens prompt;
  std::unique_ptr<TokenSampler> sampler;  // made for this scheduler's engine
  // n > 1: the samplers of sequences 1 .. n-1. Each takes a slot of its own; the prompt is
  // evaluated once, in the first sequence's slot, and copied to theirs.
  std::vector<std::unique_ptr<TokenSampler>> siblings;
  int max_tokens = 256;  // per sequence
  std::vector<std::string> stops;
  Priority priority = Priority::interactive;
};

class GenerationScheduler final : ComputeLane::Worker {
 public:
  // config.n_seq_max slots; the engine's batch holds n_batch (at least n_seq_max) tokens.
  GenerationScheduler(std::unique_ptr<Engine> engine, SchedulerConfig config,
                      std::shared_ptr<ComputeLane> lane);
  ~GenerationScheduler();
  GenerationScheduler(const GenerationScheduler&) = delete;
  GenerationScheduler& operator=(const GenerationScheduler&) = delete;

  // Runs one generation of 1 + job.siblings.size() sequences (at most n_seq_max: invalid_input
  // beyond); `on_delta` runs on the calling thread with each sequence's text and logprobs as they
  // come. Ends early (finish_reason cancelled) when `cancel` is requested or on_delta returns false.
  Result<GenerateResult> run(GenerationJob job, const DeltaCallback& on_delta, std::stop_token cancel);
  // The same, streaming the first sequence's text only.
  Result<GenerateResult> run(GenerationJob job, const TokenCallback& on_piece, std::stop_token cancel);

  uint64_t decode_calls() const { return decodes_.load(); }  // decodes since creation
  // Prompts evaluated since creation (one per request, whatever its n: the others copy it), and the
  // prompt tokens decoded for them (what a slot's cached prefix did not already hold).
  uint64_t prompt_evaluations() const { return prompt_evaluations_.load(); }
  uint64_t prompt_tokens_decoded() const { return prompt_tokens_decoded_.load(); }
  size_t waiting() const;  // requests waiting for a slot
  void set_decode_observer(DecodeObserver observer);

 private:
  struct Request;
  struct Slot;
  bool step() override;  // free cancelled slots, admit, then one decode step; lane thread
  void release_cancelled();
  void admit();
  // Under mu_: the queued request that takes the next free slots, or queue_.end() when none may.
  std::deque<std::shared_ptr<Request>>::iterator next_to_admit(int batch_busy);
  void place(Slot& slot);  // a newly admitted slot's first state
  bool decode_step();      // false when no slot had work
  void release(Slot& slot, FinishReason why, std::optional<Error> err = std::nullopt);
  void fill_batch();
  // Into the step's batch: a generating slot's next token; as much of a slot's prompt as the
  // batch has room for, at most `limit` tokens. Each returns the tokens added.
  size_t feed_stream(Slot& slot);
  size_t feed_prompt(Slot& slot, size_t limit);
  void share_prompts();  // copies a just-evaluated prompt to the slots of its other sequences
  void sample_outputs();
  bool has_work() const;  // anything queued or in a slot

  Callers callers_;                 // declared first: its destructor runs after every member's user left
  std::unique_ptr<Engine> engine_;  // lane thread only (and the destructor, after detach)
  SchedulerConfig config_;
  std::shared_ptr<ComputeLane> lane_;
  std::atomic<uint64_t> decodes_{0};
  std::atomic<uint64_t> prompt_evaluations_{0};
  std::atomic<uint64_t> prompt_tokens_decoded_{0};
  mutable std::mutex mu_;
  std::deque<std::shared_ptr<Request>> queue_;  // GUARDED_BY(mu_): waiting for a slot
  bool stopping_ = false;                       // GUARDED_BY(mu_)
  DecodeObserver observer_;                     // GUARDED_BY(mu_)
  std::vector<Slot> slots_;                     // lane thread only (and the destructor, after detach)
  int batch_slots_ = 1;                         // config_.batch_slots, resolved
  size_t batch_credit_ = 0;                     // lane thread only: see fill_batch
};

}  // namespace xervo::llamacpp
