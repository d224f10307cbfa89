// Embedding models: text in, one vector per input out. Every implementation is safe to call from
// any number of threads at once; concurrent calls may be batched together by the provider.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "xervo/error.h"
#include "xervo/usage.h"

namespace xervo {

struct EmbedOptions {
  std::optional<int> dimensions;  // ask the provider for shorter vectors, where it supports it
  bool truncate = false;          // cut inputs longer than the context instead of failing (context_overflow)
  std::stop_token cancel;         // request_stop() abandons the call (cancelled); inputs already in a
                                  // batch finish there
};

struct Embeddings {
  std::vector<std::vector<float>> vectors;  // one per input, in input order
  int dimensions = 0;
  Usage usage;
  // Alias (or model id) that produced the result; differs from the asked alias after a fallback.
  std::string served_by;
};

class EmbeddingModel {
 public:
  virtual ~EmbeddingModel() = default;
  virtual Result<Embeddings> embed(std::span<const std::string> inputs, const EmbedOptions& options = {}) = 0;
  // Vector length, or 0 when it is only known after the first call (remote models).
  virtual int dimensions() const = 0;
};

}  // namespace xervo
