#include "core/embedding_vectors.h"
#include "providers/llamacpp/task_models.h"

namespace xervo::llamacpp {

LlamaEmbedding::LlamaEmbedding(ModelSetup setup, std::unique_ptr<PooledScheduler> scheduler)
    : setup_(std::move(setup)), scheduler_(std::move(scheduler)) {
  const int out = llama_model_n_embd_out(setup_.model.get());
  dimensions_ = out > 0 ? out : llama_model_n_embd(setup_.model.get());
}

Result<Embeddings> LlamaEmbedding::embed(std::span<const std::string> inputs, const EmbedOptions& options) {
  Embeddings result;
  result.dimensions = dimensions_;
  if (options.dimensions && (*options.dimensions < 1 || *options.dimensions > dimensions_))
    return Error(ErrorCode::invalid_input, "dimensions must be in [1, " + std::to_string(dimensions_) +
                                               "] for " + setup_.name + ", got " +
                                               std::to_string(*options.dimensions));
  if (inputs.empty()) return result;
  const bool truncate = options.truncate || setup_.options.truncate;
  const llama_vocab* vocab = llama_model_get_vocab(setup_.model.get());
  const size_t limit = static_cast<size_t>(setup_.max_tokens);
  std::vector<Tokens> sequences;
  sequences.reserve(inputs.size());
  const auto overflow = [&](size_t i, const std::string& size) {
    return Error(ErrorCode::context_overflow,
                 "input " + std::to_string(i) + " is " + size + " but " + setup_.name + " takes at most " +
                     std::to_string(limit) +
                     " tokens per input (context_size); shorten it or ask for truncate");
  };
  for (size_t i = 0; i < inputs.size(); ++i) {
    // Text that cannot fit is refused (or cut) before the tokenizer works on all of it.
    std::string_view text = inputs[i];
    if (text.size() > setup_.max_text_bytes()) {
      if (!truncate) return overflow(i, std::to_string(text.size()) + " bytes");
      text = utf8_prefix(text, setup_.max_text_bytes());
    }
    auto tokens = tokenize(vocab, text, /*add_special=*/true, /*parse_special=*/true);
    if (!tokens) return tokens.error();
    if (tokens->empty())
      return Error(ErrorCode::invalid_input, "input " + std::to_string(i) + " is empty after tokenization");
    if (tokens->size() > limit) {
      if (!truncate) return overflow(i, std::to_string(tokens->size()) + " tokens");
      // Keep the closing special token (BERT's [SEP]) the pooling was trained with.
      const bool closes = llama_vocab_get_add_sep(vocab) || llama_vocab_get_add_eos(vocab);
      const llama_token last = tokens->back();
      tokens->resize(limit);
      if (closes && limit > 1) tokens->back() = last;
    }
    result.usage.prompt_tokens += static_cast<int64_t>(tokens->size());
    sequences.push_back(std::move(*tokens));
  }
  auto vectors = scheduler_->run(std::move(sequences), options.cancel, current_priority());
  if (!vectors) return vectors.error();
  result.vectors = std::move(*vectors);
  shape_vectors(result, options.dimensions, setup_.options.normalize);
  return result;
}

}  // namespace xervo::llamacpp
