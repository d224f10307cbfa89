#include "core/embedding_vectors.h"

#include <cmath>

namespace xervo {

void l2_normalize(std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (sum <= 0) return;  // an all-zero vector stays as it is
  const auto inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= inv;
}

void shape_vectors(Embeddings& result, const std::optional<int>& dimensions, bool normalize) {
  for (auto& v : result.vectors) {
    if (dimensions) v.resize(static_cast<size_t>(*dimensions));
    if (normalize) l2_normalize(v);
  }
  if (dimensions) result.dimensions = *dimensions;
}

}  // namespace xervo
