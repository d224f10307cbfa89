// Where an ONNX model's files are: the graph (model.onnx) and, beside it, the Hugging Face files
// that describe it (config.json, vocab.txt / tokenizer.json, sentence-transformers' modules.json and
// 1_Pooling/config.json). Read and checked by the checkpoint reader of tools/hfconvert, the same code
// that converts the checkpoint to GGUF, so both engines see one description. Pure file reading.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "hf_checkpoint.h"
#include "xervo/error.h"

namespace xervo::onnx {

struct ModelFolder {
  std::filesystem::path dir;    // config and tokenizer files
  std::filesystem::path graph;  // the .onnx file
  uint64_t graph_bytes = 0;
  hfconvert::HfCheckpoint checkpoint;  // config, vocabulary, pooling, normalization
};

// `model` is a folder holding model.onnx (or onnx/model.onnx, the Hugging Face layout), or a .onnx
// file whose folder (or that folder's parent, for onnx/model.onnx) holds the rest.
// model_not_found when nothing is there; invalid_input for an empty graph file or a folder whose
// config or tokenizer files are malformed (the reader's message names the file).
Result<ModelFolder> find_model_folder(const std::string& model);

}  // namespace xervo::onnx
