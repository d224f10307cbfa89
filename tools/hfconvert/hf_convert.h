// Converts a Hugging Face BERT-family checkpoint folder (embedder or cross-encoder reranker) to a
// GGUF that llama.cpp loads: tensor names mapped to llama.cpp's, shapes checked against
// config.json, the WordPiece vocabulary and the declared pooling written as GGUF keys. Weights are
// streamed from model.safetensors; the output appears atomically. Thread-safe (no shared state).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "hf_checkpoint.h"
#include "xervo/error.h"

namespace xervo::hfconvert {

enum class OutputType { f32, f16, q8_0 };

std::string_view to_string(OutputType type);
Result<OutputType> parse_output_type(std::string_view text);  // "f32" | "f16" | "q8_0"

struct ConvertOptions {
  std::filesystem::path input;        // the checkpoint folder
  std::filesystem::path output;       // the .gguf to write (replaced atomically)
  OutputType type = OutputType::f16;  // of the 2-D weight matrices; norms and biases stay f32
};

struct ConvertReport {
  HfCheckpoint checkpoint;  // what was read (config, pooling, normalization, source files)
  int tensors = 0;
  uint64_t parameters = 0;
  uint64_t output_bytes = 0;
};

// The GGUF key recording the checkpoint's sentence-transformers Normalize module (llama.cpp has
// no key of its own; xervo's provider and users can read it).
inline constexpr const char* kNormalizeKey = "xervo.embedding.normalize";

// Provenance keys: the converter, and "SHA256  relative/path" for every source file read.
inline constexpr const char* kConvertedByKey = "xervo.conversion.tool";
inline constexpr const char* kSourcesKey = "xervo.conversion.sources";

// invalid_input with the file and tensor at fault for a checkpoint that is malformed or disagrees
// with its config.json; model_not_found for a missing folder; io_error when the output cannot be
// written. The output is never left half-written.
Result<ConvertReport> convert_checkpoint(const ConvertOptions& options);

// A vocabulary-only GGUF (no tensors) with the checkpoint's WordPiece vocabulary written exactly as
// convert_checkpoint writes it: llama.cpp loads it with vocab_only to tokenize as the converted
// model would (the onnx provider's tokenizer). io_error when `output` cannot be written.
Result<void> write_vocab_gguf(const HfCheckpoint& checkpoint, const std::filesystem::path& output);

}  // namespace xervo::hfconvert
