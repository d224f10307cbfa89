// A small file in whisper.cpp's ggml layout for the library tests (magic, eleven hyper-parameters,
// mel filters, vocabulary, tensor bytes): what the shared reader (core/whisper_file.h) accepts, with
// fields to damage for the hostile cases. whisper.cpp itself cannot run it (its tensors are filler);
// the tests that transcribe use the packaged tiny.en model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace xervo::testing {

struct WhisperSpec {
  int32_t magic = 0x67676d6c;
  int32_t n_vocab = 51864;  // 51864: English-only, 51865 and up: multilingual
  int32_t n_audio_ctx = 1500, n_audio_state = 384, n_audio_head = 6, n_audio_layer = 4;
  int32_t n_text_ctx = 448, n_text_state = 384, n_text_head = 6, n_text_layer = 4;
  int32_t n_mels = 80, ftype = 1;
  int32_t n_fft = 201;
  std::vector<std::string> tokens = {"!", "\"", "hello"};
  int32_t n_tokens = -1;       // -1: tokens.size()
  size_t tensor_bytes = 4096;  // filler after the vocabulary (0: a file with no tensors)
  int seed = 1;                // makes the filler, so the hash, differ
  size_t cut_to = 0;           // non-zero: the file is truncated to this many bytes
};

inline std::string whisper_bytes(const WhisperSpec& s = {}) {
  std::string out;
  auto i32 = [&](int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  i32(s.magic);
  for (int32_t v : {s.n_vocab, s.n_audio_ctx, s.n_audio_state, s.n_audio_head, s.n_audio_layer, s.n_text_ctx,
                    s.n_text_state, s.n_text_head, s.n_text_layer, s.n_mels, s.ftype})
    i32(v);
  i32(s.n_mels);
  i32(s.n_fft);
  if (s.n_mels > 0 && s.n_mels <= 128 && s.n_fft > 0 && s.n_fft <= 1025)  // a huge count is only claimed
    out.append(static_cast<size_t>(s.n_mels) * s.n_fft * 4, '\0');
  i32(s.n_tokens >= 0 ? s.n_tokens : static_cast<int32_t>(s.tokens.size()));
  for (const auto& t : s.tokens) {
    i32(static_cast<int32_t>(t.size()));
    out += t;
  }
  for (size_t i = 0; i < s.tensor_bytes; ++i) out.push_back(static_cast<char>((i * 31 + s.seed * 7) & 0xff));
  if (s.cut_to && s.cut_to < out.size()) out.resize(s.cut_to);
  return out;
}

inline std::filesystem::path write_whisper_file(const std::filesystem::path& path,
                                                const WhisperSpec& s = {}) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << whisper_bytes(s);
  return path;
}

// The Whisper tiny.en model bootstrap converts from a package; empty when it is not installed.
inline std::filesystem::path packaged_whisper_model() {
#ifdef XERVO_WHISPER_MODEL
  std::error_code ec;
  if (std::filesystem::is_regular_file(XERVO_WHISPER_MODEL, ec)) return XERVO_WHISPER_MODEL;
#endif
  return {};
}

}  // namespace xervo::testing
