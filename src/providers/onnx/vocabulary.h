// The tokenizer of an ONNX model: llama.cpp's WordPiece, over a vocabulary-only GGUF written from the
// model folder's vocab.txt / tokenizer.json by the checkpoint converter's own code, so the ONNX and
// the GGUF engine tokenize a text identically. Immutable after load; safe from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hf_checkpoint.h"
#include "xervo/error.h"

struct llama_model;
struct llama_vocab;

namespace xervo::onnx {

using TokenIds = std::vector<int32_t>;

class Vocabulary {
 public:
  // model_load_failed when llama.cpp rejects the vocabulary; io_error when the temporary GGUF cannot
  // be written. `name` names the model in messages.
  static Result<std::shared_ptr<const Vocabulary>> load(const hfconvert::HfCheckpoint& checkpoint,
                                                        const std::string& name);
  ~Vocabulary();

  // Word pieces of `text` without [CLS] / [SEP]. invalid_input for text llama.cpp cannot take.
  Result<TokenIds> pieces(std::string_view text) const;
  int32_t cls() const { return cls_; }
  int32_t sep() const { return sep_; }
  int32_t pad() const { return pad_; }
  int32_t size() const { return size_; }

 private:
  Vocabulary() = default;
  llama_model* model_ = nullptr;  // vocab_only: no tensors
  const llama_vocab* vocab_ = nullptr;
  int32_t cls_ = -1, sep_ = -1, pad_ = 0, size_ = 0;
};

}  // namespace xervo::onnx
