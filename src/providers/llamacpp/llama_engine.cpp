#include "providers/llamacpp/llama_engine.h"

#include <type_traits>

#include "providers/llamacpp/text.h"

namespace xervo::llamacpp {

static_assert(std::is_same_v<Token, llama_token> && std::is_same_v<Pos, llama_pos> &&
              std::is_same_v<SeqId, llama_seq_id>);

namespace {

class ContextSampler final : public TokenSampler {
 public:
  ContextSampler(Sampler sampler, llama_context* ctx) : sampler_(std::move(sampler)), ctx_(ctx) {}
  SampledToken next(int32_t batch_index) override {
    const Token token = sampler_.sample(ctx_, batch_index);
    return {token, sampler_.logprob(ctx_, batch_index, token)};
  }

 private:
  Sampler sampler_;
  llama_context* ctx_;
};

}  // namespace

LlamaEngine::LlamaEngine(std::shared_ptr<const llama_model> model, ThreadpoolPtr threads, ContextPtr ctx,
                         int32_t batch_capacity)
    : model_(std::move(model)), threads_(std::move(threads)), ctx_(std::move(ctx)), batch_(batch_capacity) {}

LlamaEngine::~LlamaEngine() = default;  // members go in reverse: the context before its pool and model

int32_t LlamaEngine::decode() { return llama_decode(ctx_.get(), batch_.get()); }

void LlamaEngine::memory_clear() {
  llama_memory_clear(llama_get_memory(ctx_.get()), false);  // forget the cells, no need to zero them
}

const float* LlamaEngine::pooled_output(SeqId seq) { return llama_get_embeddings_seq(ctx_.get(), seq); }

bool LlamaEngine::memory_trim(SeqId seq, Pos from) {
  return llama_memory_seq_rm(llama_get_memory(ctx_.get()), seq, from > 0 ? from : -1, -1);
}

void LlamaEngine::memory_copy(SeqId from, SeqId to) {
  llama_memory_t memory = llama_get_memory(ctx_.get());
  llama_memory_seq_rm(memory, to, -1, -1);
  llama_memory_seq_cp(memory, from, to, -1, -1);
}

bool LlamaEngine::is_end_of_generation(Token token) const {
  return llama_vocab_is_eog(llama_model_get_vocab(model_.get()), token);
}

std::string LlamaEngine::token_text(Token token) const {
  return token_piece(llama_model_get_vocab(model_.get()), token);
}

std::unique_ptr<TokenSampler> LlamaEngine::bind(Sampler sampler) {
  return std::make_unique<ContextSampler>(std::move(sampler), ctx_.get());
}

}  // namespace xervo::llamacpp
