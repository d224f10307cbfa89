// Embeds one text with llama.cpp in-process (the pooling the GGUF declares), returning the tokens
// llama.cpp produced and the pooled vector (or, for rank pooling, the classifier's scores).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace xervo::testing {

struct LlamaEmbedding {
  std::vector<int> tokens;
  std::vector<float> values;
  std::string error;  // empty on success
};

LlamaEmbedding llama_embed(const std::filesystem::path& model, const std::string& text);

}  // namespace xervo::testing
