// The header of a whisper.cpp model file (the ggml "legacy" layout: magic, eleven hyper-parameters,
// mel filters, vocabulary, tensors), read and bounded before whisper.cpp sees the file: whisper.cpp
// sizes its allocations from these numbers, so a hostile file is refused here with a clear error.
#pragma once

#include <cstdint>
#include <filesystem>

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

}  // namespace xervo::whisper
