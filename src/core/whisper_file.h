// The header of a whisper.cpp model file (the ggml "legacy" layout: magic, eleven hyper-parameters,
// mel filters, vocabulary, tensors), read and bounded before whisper.cpp sees the file: whisper.cpp
// sizes its allocations from these numbers, so a hostile file is refused here with a clear error.
// The one reader of the format: the whisper provider checks a file with it before each load, and
// the model library before it imports or pulls one (src/library/model_file.h). Stateless.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "xervo/error.h"

namespace xervo::whisper {

struct WhisperFileFacts {
  int32_t n_vocab = 0;
  int32_t n_audio_ctx = 0;
  int32_t n_audio_state = 0;
  int32_t n_audio_head = 0;
  int32_t n_audio_layer = 0;
  int32_t n_text_ctx = 0;
  int32_t n_text_state = 0;
  int32_t n_text_head = 0;
  int32_t n_text_layer = 0;
  int32_t n_mels = 0;
  int32_t ftype = 0;
  uint64_t file_size = 0;
  bool multilingual() const { return n_vocab >= 51865; }
};

// model_not_found for a missing file, model_load_failed naming what is wrong otherwise.
Result<WhisperFileFacts> read_whisper_file(const std::filesystem::path& path);

// The magic number that opens a whisper.cpp model file ("lmgg" on disk, little-endian).
inline constexpr uint32_t kWhisperFileMagic = 0x67676d6cu;

// The tensor type of a file's ftype ("F16", "Q5_1", ...; ggml's file types, the quantization
// version of ftype / 1000 left out); "ftype N" for a value ggml does not name.
std::string whisper_ftype_name(int32_t ftype);

}  // namespace xervo::whisper
