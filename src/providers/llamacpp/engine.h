// What a scheduler asks of one model's llama.cpp context: build a batch, decode it, read pooled
// outputs, trim a sequence's cache, tell end-of-generation tokens and their text. The schedulers
// (scheduler.h) see the context only through this interface, so their logic is built without
// llama.h and tested against a scripted engine (tests/providers/llamacpp/scheduling/), also under
// ThreadSanitizer where llama.cpp is not built. LlamaEngine (llama_engine.h) is the real one.
// Only the compute lane's thread calls an engine (one step at a time): not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "providers/llamacpp/tokens.h"
#include "xervo/generator.h"

namespace xervo::llamacpp {

class Engine {
 public:
  virtual ~Engine() = default;

  // The batch of the next decode. Its capacity is fixed at creation; add() needs room() > 0.
  virtual void batch_clear() = 0;
  // Appends one token of sequence `seq` at `pos`; `output` asks for its logits (or its pooled
  // sequence's output). Returns its index in the batch.
  virtual int32_t batch_add(Token token, Pos pos, SeqId seq, bool output) = 0;
  virtual int32_t batch_size() const = 0;
  virtual int32_t batch_room() const = 0;

  // Runs the batch: 0 on success, else llama_decode's code (1: no room in the KV cache).
  virtual int32_t decode() = 0;

  // Pooled models: forgets every cached cell (each batch is independent), and reads the pooled
  // output of `seq` after the last decode (null when there is none).
  virtual void memory_clear() = 0;
  virtual const float* pooled_output(SeqId seq) = 0;

  // Generation: drops the cells of `seq` from position `from` on (0: all of them). False when the
  // memory cannot cut a sequence there (then only dropping all of it works).
  virtual bool memory_trim(SeqId seq, Pos from) = 0;
  // Makes `to` a copy of every cell of `from` (its own cells are dropped first): n sequences of one
  // request share the prompt evaluated once. Takes effect at the next decode.
  virtual void memory_copy(SeqId from, SeqId to) = 0;
  virtual bool is_end_of_generation(Token token) const = 0;
  virtual std::string token_text(Token token) const = 0;  // control tokens render as ""
};

// What a sampler picked, with its log probability when the request asked for them.
struct SampledToken {
  Token token = 0;
  std::optional<TokenLogprob> logprob;
};

// The sampler of one generated sequence: picks the next token from the logits at `batch_index` of
// the last decode of the engine it was made for, and remembers it (penalties, grammar state).
// Called on the compute lane's thread only.
class TokenSampler {
 public:
  virtual ~TokenSampler() = default;
  virtual SampledToken next(int32_t batch_index) = 0;
};

}  // namespace xervo::llamacpp
