// The scheduler of one loaded model turns the requests of any number of caller threads into shared
// llama_decode calls (continuous batching). Its steps run on the process's compute lane
// (core/compute_lane.h), the one thread that decodes for every model, so only that thread ever
// touches the llama_context.
// - PooledScheduler (embed, rerank): inputs of different callers are packed into one batch, each
//   input its own sequence id; the pooled output of each sequence goes back to its caller.
// - GenerationScheduler: up to `slots` generations share each decode step, each in its own KV-cache
//   sequence; a new request's prompt is processed in the same batch as the running streams' next
//   tokens. Pieces of text are handed to the caller's thread, so a slow stream consumer never slows
//   the others.
// Callers block until their request is done; beyond `queue_limit` waiting requests a call fails at
// once with `unavailable`. Destroying a scheduler leaves the lane (waiting for a step in progress),
// fails what is still queued and frees the context (before the model, which the scheduler keeps
// alive). Both classes are safe to call from any number of threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <vector>

#include "core/compute_lane.h"
#include "providers/llamacpp/llama_handles.h"
#include "providers/llamacpp/sampling.h"
#include "providers/llamacpp/text.h"
#include "xervo/error.h"
#include "xervo/generator.h"

namespace xervo::llamacpp {

struct SchedulerConfig {
  std::string model_name;  // for messages: the file
  int n_batch = 512;       // tokens per decode
  int n_seq_max = 1;       // sequences per decode (pooled) or slots (generation)
  int n_ctx_seq = 512;     // positions one sequence may use
  int queue_limit = 64;    // waiting requests beyond which calls fail
  // Pooled: how long after a batch the next one may wait for as many inputs as that batch had.
  std::chrono::milliseconds gather{0};
};

class PooledScheduler final : ComputeLane::Worker {
 public:
  // `model` is kept alive while the context exists; `n_outputs` floats are read per sequence.
  PooledScheduler(std::shared_ptr<const llama_model> model, ThreadpoolPtr threads, ContextPtr ctx,
                  SchedulerConfig config, int n_outputs, std::shared_ptr<ComputeLane> lane);
  ~PooledScheduler();
  PooledScheduler(const PooledScheduler&) = delete;
  PooledScheduler& operator=(const PooledScheduler&) = delete;

  // The pooled output of each sequence (each at most n_batch and n_ctx_seq tokens, checked by
  // the caller), in order. `cancel` abandons the call at once (cancelled): its inputs not yet in a
  // batch are dropped, those in the batch running now finish there.
  Result<std::vector<std::vector<float>>> run(std::vector<Tokens> sequences, std::stop_token cancel = {});

 private:
  struct Request;
  struct Placed {
    Request* req;
    size_t index;
    llama_seq_id seq;
  };
  bool step() override;  // one batch; lane thread

  std::shared_ptr<const llama_model> model_;
  ThreadpoolPtr threads_;  // attached to ctx_; freed after it
  ContextPtr ctx_;
  SchedulerConfig config_;
  int n_outputs_;
  std::shared_ptr<ComputeLane> lane_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  std::deque<std::shared_ptr<Request>> queue_;  // GUARDED_BY(mu_): not yet finished, FIFO
  bool stopping_ = false;                       // GUARDED_BY(mu_)
  // Lane thread only: the batch being built and where each input went.
  Batch batch_;
  std::vector<Placed> placed_;
  std::vector<std::shared_ptr<Request>> pending_;
  size_t last_inputs_ = 0;                          // inputs of the last batch
  std::chrono::steady_clock::time_point last_end_;  // when it ended
};

// One generation as the scheduler runs it: prompt tokens, a sampler chain, limits.
struct GenerationJob {
  Tokens prompt;
  Sampler sampler;
  int max_tokens = 256;
  std::vector<std::string> stops;
};

class GenerationScheduler final : ComputeLane::Worker {
 public:
  GenerationScheduler(std::shared_ptr<const llama_model> model, ThreadpoolPtr threads, ContextPtr ctx,
                      SchedulerConfig config, std::shared_ptr<ComputeLane> lane);
  ~GenerationScheduler();
  GenerationScheduler(const GenerationScheduler&) = delete;
  GenerationScheduler& operator=(const GenerationScheduler&) = delete;

  // Runs one generation; `on_piece` runs on the calling thread. Ends early (finish_reason
  // cancelled) when `cancel` is requested or on_piece returns false.
  Result<GenerateResult> run(GenerationJob job, const TokenCallback& on_piece, std::stop_token cancel);

 private:
  struct Request;
  struct Slot;
  bool step() override;  // admit, then one decode step; lane thread
  void admit();
  bool decode_step();

  std::shared_ptr<const llama_model> model_;
  ThreadpoolPtr threads_;  // attached to ctx_; freed after it
  ContextPtr ctx_;
  SchedulerConfig config_;
  std::shared_ptr<ComputeLane> lane_;
  std::mutex mu_;
  std::deque<std::shared_ptr<Request>> queue_;  // GUARDED_BY(mu_): waiting for a slot
  bool stopping_ = false;                       // GUARDED_BY(mu_)
  std::vector<Slot> slots_;                     // lane thread only (and the destructor, after detach)
  Batch batch_;                                 // lane thread only
};

}  // namespace xervo::llamacpp
