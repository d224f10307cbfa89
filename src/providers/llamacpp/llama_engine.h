// The Engine of one llama.cpp context: it owns the context, the thread pool attached to it and the
// batch, and keeps the model alive until the context is gone. Lane thread only, like every Engine.
#pragma once

#include <memory>

#include "providers/llamacpp/engine.h"
#include "providers/llamacpp/llama_handles.h"
#include "providers/llamacpp/sampling.h"

namespace xervo::llamacpp {

class LlamaEngine final : public Engine {
 public:
  // `n_outputs`: floats per pooled output (0 for generation). `batch_capacity`: tokens per decode.
  LlamaEngine(std::shared_ptr<const llama_model> model, ThreadpoolPtr threads, ContextPtr ctx,
              int32_t batch_capacity);
  ~LlamaEngine() override;

  void batch_clear() override { batch_.clear(); }
  int32_t batch_add(Token token, Pos pos, SeqId seq, bool output) override {
    return batch_.add(token, pos, seq, output);
  }
  int32_t batch_size() const override { return batch_.size(); }
  int32_t batch_room() const override { return batch_.room(); }
  int32_t decode() override;
  void memory_clear() override;
  const float* pooled_output(SeqId seq) override;
  bool memory_trim(SeqId seq, Pos from) override;
  void memory_copy(SeqId from, SeqId to) override;
  bool is_end_of_generation(Token token) const override;
  std::string token_text(Token token) const override;

  // A sampler that draws from this engine's logits. The engine must outlive it.
  std::unique_ptr<TokenSampler> bind(Sampler sampler);
  llama_context* context() { return ctx_.get(); }

 private:
  std::shared_ptr<const llama_model> model_;
  ThreadpoolPtr threads_;  // attached to ctx_; freed after it
  ContextPtr ctx_;
  Batch batch_;
};

}  // namespace xervo::llamacpp
