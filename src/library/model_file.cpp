#include "library/model_file.h"

#include <cstdint>
#include <fstream>

#include "core/whisper_file.h"

namespace xervo::library {
namespace fs = std::filesystem;

namespace {

GgufInfo whisper_info(const whisper::WhisperFileFacts& f) {
  GgufInfo info;
  info.format = std::string(kWhisperFormat);
  info.architecture = "whisper";
  info.task = ModelTask::transcribe;
  info.quantization = whisper::whisper_ftype_name(f.ftype);
  info.context_length = static_cast<uint32_t>(f.n_text_ctx);
  info.embedding_length = static_cast<uint32_t>(f.n_text_state);
  info.block_count = static_cast<uint32_t>(f.n_text_layer);
  info.head_count = static_cast<uint32_t>(f.n_text_head);
  info.head_count_kv = info.head_count;
  info.file_size = f.file_size;
  const bool multilingual = f.multilingual();
  info.tags = {"whisper", "speech-to-text", multilingual ? "multilingual" : "english-only"};
  info.description = "Whisper speech to text (whisper.cpp): " + std::to_string(f.n_audio_layer) +
                     " encoder and " + std::to_string(f.n_text_layer) + " decoder layers, width " +
                     std::to_string(f.n_text_state) + ", " + std::to_string(f.n_mels) + " mel bands, " +
                     (multilingual ? "multilingual" : "English-only") + ", " + info.quantization;
  return info;
}

}  // namespace

bool has_whisper_magic(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;  // a FIFO would block the open
  std::ifstream in(path, std::ios::binary);
  uint32_t magic = 0;
  return in.read(reinterpret_cast<char*>(&magic), 4) && magic == whisper::kWhisperFileMagic;
}

Result<GgufInfo> read_model_file(const fs::path& path) {
  if (!has_whisper_magic(path)) return read_gguf_info(path);
  auto facts = whisper::read_whisper_file(path);
  if (!facts) {
    // The provider's model_load_failed is, at the library's door, a bad input file.
    const ErrorCode code = facts.error().code() == ErrorCode::model_load_failed ? ErrorCode::invalid_input
                                                                                : facts.error().code();
    return Error(code, facts.error().message());
  }
  return whisper_info(*facts);
}

std::string model_file_extension(std::string_view format) {
  return format == kWhisperFormat ? ".bin" : ".gguf";
}

}  // namespace xervo::library
