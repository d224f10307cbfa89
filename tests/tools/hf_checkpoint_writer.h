// Writes small Hugging Face BERT checkpoints for the converter's tests: config.json, a vocab.txt,
// sentence-transformers modules, and a model.safetensors with random weights, written here byte by
// byte (so tests can also write broken ones). Weights are kept in memory for a reference forward.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xervo::testing {

struct HfTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
  std::string dtype = "F32";  // "F32" or "F16" on disk
};

struct TinyBert {
  int hidden = 64, layers = 2, heads = 4, ff = 128, positions = 64, type_vocab = 2;
  bool classifier = false;
  std::vector<std::string> vocab;
  std::map<std::string, HfTensor> tensors;  // HF names
  nlohmann::json config() const;
};

// A tiny model with random weights (N(0, 0.1), LayerNorm weights near 1) and a 40-token vocabulary.
TinyBert make_tiny_bert(uint64_t seed, bool classifier = false);

// Writes the folder: config.json, vocab.txt, tokenizer_config.json, modules.json (mean pooling +
// Normalize, embedders only) and model.safetensors.
void write_checkpoint(const TinyBert& model, const std::filesystem::path& dir);

// The safetensors bytes for `tensors` (header padded to 8 bytes, data in name order).
std::string safetensors_bytes(const std::map<std::string, HfTensor>& tensors);

// A plain BERT forward in f64 over token ids (type 0, positions 0..n-1): mean-pooled hidden state
// for an embedder, the classifier's first output (pooler tanh + linear on [CLS]) for a reranker.
std::vector<double> reference_forward(const TinyBert& model, const std::vector<int>& ids);

}  // namespace xervo::testing
