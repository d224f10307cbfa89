#include "core/whisper_file.h"

#include <fstream>
#include <string>

namespace xervo::whisper {
namespace {

Error bad(const std::filesystem::path& path, const std::string& what) {
  return Error(ErrorCode::model_load_failed,
               path.string() + " is not a whisper.cpp model: " + what +
                   " (the whisper provider loads ggml Whisper files such as ggml-tiny.en.bin)");
}

bool in(int32_t v, int32_t lo, int32_t hi) { return v >= lo && v <= hi; }

}  // namespace

Result<WhisperFileFacts> read_whisper_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return Error(ErrorCode::model_not_found, "no model file at " + path.string());
  WhisperFileFacts f;
  f.file_size = std::filesystem::file_size(path, ec);
  std::ifstream in_file(path, std::ios::binary);
  int32_t header[12] = {};
  if (!in_file.read(reinterpret_cast<char*>(header), sizeof(header)))
    return bad(path, "the file is shorter than a model header");
  if (static_cast<uint32_t>(header[0]) != kWhisperFileMagic) return bad(path, "wrong magic number");
  int32_t* h = header + 1;
  f.n_vocab = h[0];
  f.n_audio_ctx = h[1];
  f.n_audio_state = h[2];
  f.n_audio_head = h[3];
  f.n_audio_layer = h[4];
  f.n_text_ctx = h[5];
  f.n_text_state = h[6];
  f.n_text_head = h[7];
  f.n_text_layer = h[8];
  f.n_mels = h[9];
  f.ftype = h[10];
  // Bounds generous for every released Whisper size (large-v3: 51866 tokens, 1280 wide, 32 layers).
  if (!in(f.n_vocab, 51864, 52000)) return bad(path, "vocabulary size " + std::to_string(f.n_vocab));
  if (!in(f.n_audio_ctx, 1, 1500) || !in(f.n_text_ctx, 1, 448))
    return bad(path, "context lengths " + std::to_string(f.n_audio_ctx) + "/" + std::to_string(f.n_text_ctx));
  if (!in(f.n_audio_state, 8, 4096) || !in(f.n_text_state, 8, 4096))
    return bad(path, "widths " + std::to_string(f.n_audio_state) + "/" + std::to_string(f.n_text_state));
  if (!in(f.n_audio_head, 1, 64) || !in(f.n_text_head, 1, 64) || f.n_audio_state % f.n_audio_head ||
      f.n_text_state % f.n_text_head)
    return bad(path, "head counts that do not divide the widths");
  if (!in(f.n_audio_layer, 1, 64) || !in(f.n_text_layer, 1, 64))
    return bad(path,
               "layer counts " + std::to_string(f.n_audio_layer) + "/" + std::to_string(f.n_text_layer));
  if (f.n_mels != 80 && f.n_mels != 128)
    return bad(path, std::to_string(f.n_mels) + " mel bands (80 or 128)");
  if (!in(f.ftype % 1000, 0, 40)) return bad(path, "unknown tensor type " + std::to_string(f.ftype));
  int32_t filters[2] = {};
  if (!in_file.read(reinterpret_cast<char*>(filters), sizeof(filters)))
    return bad(path, "truncated after the hyper-parameters");
  if (filters[0] != f.n_mels || !in(filters[1], 1, 1025))
    return bad(path, "a mel filter bank of " + std::to_string(filters[0]) + "x" + std::to_string(filters[1]));
  const uint64_t minimum = sizeof(header) + sizeof(filters) + 4ull * filters[0] * filters[1] + 4;
  if (f.file_size < minimum) return bad(path, "truncated (the file ends inside the mel filter bank)");
  // whisper.cpp trusts each token's length word: walk the vocabulary here, bounded by the file.
  in_file.seekg(static_cast<std::streamoff>(minimum - 4));
  int32_t n_tokens = 0;
  if (!in_file.read(reinterpret_cast<char*>(&n_tokens), 4) || !in(n_tokens, 0, f.n_vocab))
    return bad(path, "a vocabulary of " + std::to_string(n_tokens) + " tokens");
  uint64_t at = minimum;
  for (int32_t i = 0; i < n_tokens; ++i) {
    int32_t len = 0;
    if (!in_file.read(reinterpret_cast<char*>(&len), 4) || !in(len, 0, 1024) || at + 4 + len > f.file_size)
      return bad(path, "token " + std::to_string(i) + " is damaged or cut off");
    at += 4 + static_cast<uint64_t>(len);
    in_file.seekg(len, std::ios::cur);
  }
  if (at >= f.file_size) return bad(path, "the file holds no tensors");
  return f;
}

std::string whisper_ftype_name(int32_t ftype) {
  // enum ggml_ftype (ggml.h): the file types whisper.cpp's quantize tool writes.
  switch (ftype % 1000) {
    case 0:
      return "F32";
    case 1:
      return "F16";
    case 2:
      return "Q4_0";
    case 3:
      return "Q4_1";
    case 7:
      return "Q8_0";
    case 8:
      return "Q5_0";
    case 9:
      return "Q5_1";
    case 10:
      return "Q2_K";
    case 11:
      return "Q3_K";
    case 12:
      return "Q4_K";
    case 13:
      return "Q5_K";
    case 14:
      return "Q6_K";
    default:
      return "ftype " + std::to_string(ftype);
  }
}

}  // namespace xervo::whisper
