// The task handles of a loaded ONNX model: EmbeddingModel and RerankerModel over one Encoder. They
// tokenize (in the caller's thread, with llama.cpp's WordPiece), bound and check lengths and counts,
// and hand the sequences to the encoder. Safe to call from any number of threads at once.
#pragma once

#include <memory>
#include <string>

#include "providers/onnx/encoder.h"
#include "providers/onnx/vocabulary.h"
#include "xervo/embedding.h"
#include "xervo/reranker.h"

namespace xervo::onnx {

// The most bytes of text one token may stand for before an input is refused (or cut) without
// tokenizing it: as the llama.cpp provider's bound, far beyond real text.
inline constexpr size_t kMaxBytesPerToken = 128;

class OnnxEmbedding final : public EmbeddingModel {
 public:
  OnnxEmbedding(std::shared_ptr<const Vocabulary> vocab, std::unique_ptr<Encoder> encoder, bool normalize,
                int dimensions);
  Result<Embeddings> embed(std::span<const std::string> inputs, const EmbedOptions& options) override;
  int dimensions() const override { return dimensions_; }

 private:
  std::shared_ptr<const Vocabulary> vocab_;
  std::unique_ptr<Encoder> encoder_;
  bool normalize_;
  int dimensions_;
};

class OnnxReranker final : public RerankerModel {
 public:
  OnnxReranker(std::shared_ptr<const Vocabulary> vocab, std::unique_ptr<Encoder> encoder);
  Result<Reranking> rerank(std::string_view query, std::span<const std::string> documents,
                           std::optional<size_t> top_n, std::stop_token cancel) override;

 private:
  Result<Sequence> pair(const TokenIds& query, const std::string& document, size_t index) const;

  std::shared_ptr<const Vocabulary> vocab_;
  std::unique_ptr<Encoder> encoder_;
};

}  // namespace xervo::onnx
