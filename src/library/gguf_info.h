// Facts about a GGUF file read through ggml's own reader (gguf_init_from_file with no_alloc): the
// architecture, the task inferred from metadata, sizes, quantization. Never trusts the file: a
// truncated or malformed file is an error, not a crash. Stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "xervo/error.h"
#include "xervo/library.h"
#include "xervo/model_spec.h"

namespace xervo::library {

// Also the facts of a whisper.cpp file (library/model_file.h), with format "ggml".
struct GgufInfo {
  std::string format = "gguf";  // LibraryModel::format: "gguf", or "ggml" for a whisper.cpp file
  std::string architecture;
  std::optional<ModelTask> task;
  std::string name;               // general.name
  std::string description;        // general.description
  std::vector<std::string> tags;  // general.tags
  std::string quantization;
  uint64_t parameter_count = 0;
  uint32_t context_length = 0;
  uint32_t embedding_length = 0;
  uint32_t block_count = 0;
  uint32_t head_count = 0;
  uint32_t head_count_kv = 0;
  uint64_t file_size = 0;
  int64_t tensor_count = 0;
  // The xervo.conversion.* keys of a file written by xervo's converter (tool, type, sources;
  // converted_at and checkpoint are not in the file). Empty when xervo.conversion.tool is absent.
  std::optional<ModelConversion> conversion;
  std::string chat_template;  // tokenizer.chat_template (Jinja), empty when the file has none
};

// Bounds on what a conversion record may hold (a hostile file or metadata.json is cut, not trusted).
inline constexpr size_t kMaxConversionSources = 256;
inline constexpr size_t kMaxConversionText = 4096;

// Reads the header; fails with invalid_input naming the file when it is not a GGUF, is truncated
// (the tensor data is not all there) or holds no architecture.
Result<GgufInfo> read_gguf_info(const std::filesystem::path& path);

// "Q4_K_M" for LLAMA_FTYPE_MOSTLY_Q4_K_M (15), "F16", ...; empty for an unknown value.
std::string file_type_name(int64_t file_type);

// True when the first four bytes are "GGUF" (cheap filter for folder scans).
bool has_gguf_magic(const std::filesystem::path& path);

}  // namespace xervo::library
