#include "core/embedding_vectors.h"
#include "providers/llamacpp/utf8.h"
#include "providers/onnx/task_models.h"

namespace xervo::onnx {

OnnxEmbedding::OnnxEmbedding(std::shared_ptr<const Vocabulary> vocab, std::unique_ptr<Encoder> encoder,
                             bool normalize, int dimensions)
    : vocab_(std::move(vocab)),
      encoder_(std::move(encoder)),
      normalize_(normalize),
      dimensions_(dimensions) {}

Result<Embeddings> OnnxEmbedding::embed(std::span<const std::string> inputs, const EmbedOptions& options) {
  Embeddings result;
  result.dimensions = dimensions_;
  const std::string& name = encoder_->name();
  if (options.dimensions && (*options.dimensions < 1 || *options.dimensions > dimensions_))
    return Error(ErrorCode::invalid_input, "dimensions must be in [1, " + std::to_string(dimensions_) +
                                               "] for " + name + ", got " +
                                               std::to_string(*options.dimensions));
  if (inputs.empty()) return result;
  if (inputs.size() > static_cast<size_t>(encoder_->options().max_inputs))
    return Error(ErrorCode::invalid_input, std::to_string(inputs.size()) + " inputs in one call, " + name +
                                               " takes at most " +
                                               std::to_string(encoder_->options().max_inputs) +
                                               " (max_inputs): send them in several calls");
  const bool truncate = options.truncate || encoder_->options().truncate;
  const size_t limit = static_cast<size_t>(encoder_->plan().max_tokens);
  const size_t max_bytes = limit * kMaxBytesPerToken;
  const auto overflow = [&](size_t i, const std::string& size) {
    return Error(ErrorCode::context_overflow,
                 "input " + std::to_string(i) + " is " + size + " but " + name + " takes at most " +
                     std::to_string(limit) +
                     " tokens per input (context_size); shorten it or ask for truncate");
  };
  std::vector<Sequence> sequences;
  sequences.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string_view text = inputs[i];
    if (text.size() > max_bytes) {
      if (!truncate) return overflow(i, std::to_string(text.size()) + " bytes");
      text = llamacpp::utf8_prefix(text, max_bytes);
    }
    auto pieces = vocab_->pieces(text);
    if (!pieces) return pieces.error();
    if (pieces->size() + 2 > limit) {
      if (!truncate) return overflow(i, std::to_string(pieces->size() + 2) + " tokens");
      pieces->resize(limit - 2);  // [CLS] and [SEP] stay: the pooling was trained with them
    }
    Sequence s;
    s.ids.reserve(pieces->size() + 2);
    s.ids.push_back(vocab_->cls());
    s.ids.insert(s.ids.end(), pieces->begin(), pieces->end());
    s.ids.push_back(vocab_->sep());
    result.usage.prompt_tokens += static_cast<int64_t>(s.ids.size());
    sequences.push_back(std::move(s));
  }
  auto vectors = encoder_->run(sequences, options.cancel);
  if (!vectors) return vectors.error();
  result.vectors = std::move(*vectors);
  shape_vectors(result, options.dimensions, normalize_);
  return result;
}

}  // namespace xervo::onnx
