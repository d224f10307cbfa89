// The last step of a local embedder's call, shared by the llama.cpp and ONNX providers: vectors cut
// to the asked dimensions (Matryoshka-style), then L2-normalized when the model's options say so.
#pragma once

#include <optional>
#include <vector>

#include "xervo/embedding.h"

namespace xervo {

// Scales `v` to unit length; an all-zero vector stays as it is.
void l2_normalize(std::vector<float>& v);

// Cuts every vector of `result` to `dimensions` (already checked against the model's) and sets
// result.dimensions, then normalizes each when `normalize`.
void shape_vectors(Embeddings& result, const std::optional<int>& dimensions, bool normalize);

}  // namespace xervo
