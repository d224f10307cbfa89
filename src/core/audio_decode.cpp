#include "core/audio_decode.h"

#include <samplerate.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <memory>

namespace xervo {
namespace {

// libsndfile's virtual I/O over a byte view.
struct MemoryFile {
  std::string_view bytes;
  sf_count_t pos = 0;
};

sf_count_t vio_length(void* user) {
  return static_cast<sf_count_t>(static_cast<MemoryFile*>(user)->bytes.size());
}

sf_count_t vio_seek(sf_count_t offset, int whence, void* user) {
  auto* f = static_cast<MemoryFile*>(user);
  const auto size = static_cast<sf_count_t>(f->bytes.size());
  sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? f->pos : size;
  sf_count_t next = base + offset;
  if (next < 0) next = 0;
  if (next > size) next = size;
  f->pos = next;
  return f->pos;
}

sf_count_t vio_read(void* ptr, sf_count_t count, void* user) {
  auto* f = static_cast<MemoryFile*>(user);
  const auto size = static_cast<sf_count_t>(f->bytes.size());
  if (count <= 0 || f->pos >= size) return 0;
  sf_count_t n = std::min(count, size - f->pos);
  std::copy_n(f->bytes.data() + f->pos, n, static_cast<char*>(ptr));
  f->pos += n;
  return n;
}

sf_count_t vio_write(const void*, sf_count_t, void*) { return 0; }
sf_count_t vio_tell(void* user) { return static_cast<MemoryFile*>(user)->pos; }

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};
using SndfilePtr = std::unique_ptr<SNDFILE, SndfileCloser>;

struct SrcDeleter {
  void operator()(SRC_STATE* s) const { src_delete(s); }
};

std::string format_name(int format) {
  SF_FORMAT_INFO info{};
  info.format = format & SF_FORMAT_TYPEMASK;
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &info, sizeof(info)) == 0 && info.extension)
    return std::string(info.extension);
  return "audio";
}

Error bad_audio(const std::string& what) {
  return Error(ErrorCode::invalid_input,
               "cannot decode the audio: " + what + " (send WAV, FLAC, Ogg Vorbis/Opus or MP3)");
}

}  // namespace

std::vector<float> mix_to_mono(const std::vector<float>& interleaved, int channels) {
  if (channels <= 1) return interleaved;
  const size_t frames = interleaved.size() / static_cast<size_t>(channels);
  std::vector<float> mono(frames);
  for (size_t i = 0; i < frames; ++i) {
    float sum = 0;
    for (int c = 0; c < channels; ++c) sum += interleaved[i * channels + c];
    mono[i] = sum / static_cast<float>(channels);
  }
  return mono;
}

Result<std::vector<float>> resample(const std::vector<float>& samples, int from_rate, int to_rate) {
  if (from_rate <= 0 || to_rate <= 0) return Error(ErrorCode::invalid_input, "sample rates must be positive");
  if (from_rate == to_rate || samples.empty()) return samples;
  const double ratio = static_cast<double>(to_rate) / from_rate;
  int err = 0;
  std::unique_ptr<SRC_STATE, SrcDeleter> state(src_new(SRC_SINC_MEDIUM_QUALITY, 1, &err));
  if (!state) return Error(ErrorCode::internal, std::string("libsamplerate: ") + src_strerror(err));
  std::vector<float> out;
  out.reserve(static_cast<size_t>(std::ceil(samples.size() * ratio)) + 16);
  std::vector<float> chunk(8192);
  SRC_DATA data{};
  data.data_in = samples.data();
  data.input_frames = static_cast<long>(samples.size());
  data.src_ratio = ratio;
  data.end_of_input = 1;
  for (;;) {
    data.data_out = chunk.data();
    data.output_frames = static_cast<long>(chunk.size());
    if (int e = src_process(state.get(), &data); e != 0)
      return Error(ErrorCode::internal, std::string("libsamplerate: ") + src_strerror(e));
    out.insert(out.end(), chunk.begin(), chunk.begin() + data.output_frames_gen);
    data.data_in += data.input_frames_used;
    data.input_frames -= data.input_frames_used;
    if (data.input_frames <= 0 && data.output_frames_gen == 0) break;
  }
  return out;
}

Result<DecodedAudio> decode_audio(std::string_view bytes, int sample_rate, const AudioLimits& limits,
                                  std::stop_token cancel) {
  if (bytes.empty()) return bad_audio("the file is empty");
  MemoryFile file{bytes, 0};
  SF_VIRTUAL_IO io{vio_length, vio_seek, vio_read, vio_write, vio_tell};
  SF_INFO info{};
  SndfilePtr sf(sf_open_virtual(&io, SFM_READ, &info, &file));
  if (!sf) return bad_audio(std::string("unknown or damaged format: ") + sf_strerror(nullptr));
  if (info.channels <= 0 || info.channels > limits.max_channels)
    return bad_audio(std::to_string(info.channels) + " channels (at most " +
                     std::to_string(limits.max_channels) + ")");
  if (info.samplerate <= 0 || info.samplerate > limits.max_sample_rate)
    return bad_audio("sample rate " + std::to_string(info.samplerate) + " Hz (at most " +
                     std::to_string(limits.max_sample_rate) + ")");
  DecodedAudio audio;
  audio.source_rate = info.samplerate;
  audio.source_channels = info.channels;
  audio.format = format_name(info.format);
  // Never trust info.frames: a header may claim billions. Read in chunks up to the time limit.
  const auto max_frames = static_cast<uint64_t>(limits.max_seconds * info.samplerate);
  std::vector<float> interleaved;
  std::vector<float> chunk(static_cast<size_t>(4096) * info.channels);
  uint64_t frames = 0;
  for (;;) {
    if (cancel.stop_requested()) return Error(ErrorCode::cancelled, "audio decoding cancelled");
    sf_count_t n = sf_readf_float(sf.get(), chunk.data(), 4096);
    if (n <= 0) break;
    frames += static_cast<uint64_t>(n);
    if (frames > max_frames)
      return Error(ErrorCode::invalid_input, "the audio is longer than " +
                                                 std::to_string(static_cast<int64_t>(limits.max_seconds)) +
                                                 " s, the most this server transcribes");
    interleaved.insert(interleaved.end(), chunk.begin(), chunk.begin() + n * info.channels);
  }
  if (int e = sf_error(sf.get()); e != SF_ERR_NO_ERROR && frames == 0) return bad_audio(sf_error_number(e));
  if (frames == 0) return bad_audio("it holds no audio samples (zero length or truncated)");
  for (float& v : interleaved)
    if (!std::isfinite(v))
      v = 0;  // float WAVs may carry NaN or Inf
    else
      v = std::clamp(v, -1.0f, 1.0f);
  auto mono = resample(mix_to_mono(interleaved, info.channels), info.samplerate, sample_rate);
  if (!mono) return mono.error();
  audio.samples = std::move(*mono);
  audio.sample_rate = sample_rate;
  return audio;
}

}  // namespace xervo
