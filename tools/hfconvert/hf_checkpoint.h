// What a Hugging Face BERT-family checkpoint folder declares, read and checked: config.json (the
// shape), the WordPiece vocabulary (vocab.txt, else tokenizer.json), sentence-transformers'
// modules.json and 1_Pooling/config.json (pooling, normalization), and which weights file to read.
// Pure file parsing; nothing here runs code from the checkpoint (pickles are refused, not read).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "xervo/error.h"

namespace xervo::hfconvert {

struct BertConfig {
  std::string architecture;  // BertModel, BertForMaskedLM or BertForSequenceClassification
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int intermediate_size = 0;
  int max_positions = 0;
  int vocab_size = 0;
  int type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  bool classifier = false;          // a cross-encoder: pooler + classifier head, scores not vectors
  int num_labels = 1;               // classifier outputs
  std::vector<std::string> labels;  // real label names, empty for AutoConfig's LABEL_0.. defaults
};

struct WordPieceVocab {
  std::vector<std::string> tokens;  // by id, as in the checkpoint ("##ing" for continuations)
  std::vector<bool> special;        // control tokens ([CLS], [SEP], [PAD], [MASK], [UNK], added)
  bool lowercase = true;
  int unk = -1, cls = -1, sep = -1, pad = -1, mask = -1;
  std::filesystem::path source;  // vocab.txt or tokenizer.json
};

enum class CheckpointPooling { mean, cls, last, rank };

struct HfCheckpoint {
  std::filesystem::path dir;
  BertConfig config;
  WordPieceVocab vocab;
  CheckpointPooling pooling = CheckpointPooling::mean;
  bool pooling_declared = false;  // false: no sentence-transformers pooling module, mean assumed
  bool normalize = false;         // a sentence-transformers Normalize module follows the pooling
  std::filesystem::path weights;  // model.safetensors
  std::vector<std::filesystem::path> source_files;  // every file the conversion reads
};

const char* to_string(CheckpointPooling pooling);

// invalid_input naming the file and the problem (unsupported architecture, a PyTorch pickle
// without safetensors, a vocabulary that disagrees with config.json ...); model_not_found when the
// folder or config.json is missing.
Result<HfCheckpoint> read_checkpoint(const std::filesystem::path& dir);

// The same checks without the weights file (`weights` stays empty): config.json, the vocabulary and
// the sentence-transformers modules of a folder whose weights come in another form (an ONNX graph
// beside the tokenizer files, for the onnx provider).
Result<HfCheckpoint> read_checkpoint_metadata(const std::filesystem::path& dir);

}  // namespace xervo::hfconvert
