// RAII owners for the llama.cpp and gguf C handles this provider uses: every handle is freed by
// its deleter, never by hand. Plain ownership types; thread-safety is that of the handle inside.
#pragma once

#include <gguf.h>
#include <llama.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cstdint>
#include <memory>

namespace xervo::llamacpp {

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};
struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
struct GgufDeleter {
  void operator()(gguf_context* g) const { gguf_free(g); }
};

using ModelPtr = std::unique_ptr<llama_model, ModelDeleter>;

// The deleter of a loaded model's shared owner, which goes last (after every context of the model):
// frees the model, then hands the heap its contexts and vocabulary freed back to the OS. glibc keeps
// freed blocks below its mmap threshold in its arenas, and the threshold rises (up to 32 MiB) with
// each large block freed, so compute buffers and KV caches of unloaded models would otherwise stay
// resident: under a memory budget, with models evicted and loaded in turn, RSS would grow past it.
struct SharedModelDeleter {
  void operator()(const llama_model* m) const {
    llama_model_free(const_cast<llama_model*>(m));
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
  }
};
using ContextPtr = std::unique_ptr<llama_context, ContextDeleter>;
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;
using GgufPtr = std::unique_ptr<gguf_context, GgufDeleter>;

// The CPU backend's free function comes from the backend registry (the backend may be a plugin).
struct ThreadpoolDeleter {
  void (*free_fn)(ggml_threadpool*) = nullptr;
  void operator()(ggml_threadpool* p) const {
    if (free_fn) free_fn(p);
  }
};
using ThreadpoolPtr = std::unique_ptr<ggml_threadpool, ThreadpoolDeleter>;

// A llama_batch with room for `capacity` tokens of one sequence id each.
class Batch {
 public:
  explicit Batch(int32_t capacity) : batch_(llama_batch_init(capacity, 0, 1)), capacity_(capacity) {}
  ~Batch() { llama_batch_free(batch_); }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  void clear() { batch_.n_tokens = 0; }
  int32_t size() const { return batch_.n_tokens; }
  int32_t capacity() const { return capacity_; }
  int32_t room() const { return capacity_ - batch_.n_tokens; }
  // Appends one token; returns its index in the batch.
  int32_t add(llama_token token, llama_pos pos, llama_seq_id seq, bool output) {
    const int32_t i = batch_.n_tokens++;
    batch_.token[i] = token;
    batch_.pos[i] = pos;
    batch_.n_seq_id[i] = 1;
    batch_.seq_id[i][0] = seq;
    batch_.logits[i] = output ? 1 : 0;
    return i;
  }
  const llama_batch& get() const { return batch_; }

 private:
  llama_batch batch_;
  int32_t capacity_;
};

}  // namespace xervo::llamacpp
