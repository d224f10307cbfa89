// Reranker models: score documents against a query, best first. Safe to call from any number of
// threads at once.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"
#include "xervo/usage.h"

namespace xervo {

struct RerankResult {
  size_t index = 0;    // position of the document in the request
  double score = 0.0;  // relevance; higher is better; comparable within one call
};

struct Reranking {
  std::vector<RerankResult> results;  // sorted by score, descending; at most top_n
  Usage usage;
  std::string served_by;
};

class RerankerModel {
 public:
  virtual ~RerankerModel() = default;
  // request_stop() on `cancel` abandons the call (cancelled); inputs already in a batch finish there.
  virtual Result<Reranking> rerank(std::string_view query, std::span<const std::string> documents,
                                   std::optional<size_t> top_n = std::nullopt,
                                   std::stop_token cancel = {}) = 0;
};

}  // namespace xervo
