// Audio files to what a speech model reads: decodes WAV, FLAC, Ogg (Vorbis, Opus) and MP3 from
// memory with libsndfile, mixes the channels down to mono and resamples with libsamplerate. Every
// input is hostile: the decoder never trusts a header's frame count (it reads in bounded chunks and
// stops at the limit), and truncated, empty or unknown data is an invalid_input error that says
// what is wrong. Stateless; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"

namespace xervo {

struct AudioLimits {
  double max_seconds = 4 * 3600.0;  // longer audio: invalid_input (before it is all decoded)
  int max_channels = 16;
  int max_sample_rate = 384000;
};

struct DecodedAudio {
  std::vector<float> samples;  // mono, in [-1, 1], at `sample_rate`
  int sample_rate = 0;
  int source_rate = 0;      // the file's own rate
  int source_channels = 0;  // the file's own channel count
  std::string format;       // "WAV", "FLAC", "OGG", "MPEG", ...
  double duration_s() const { return sample_rate ? double(samples.size()) / sample_rate : 0; }
};

// Decodes `bytes` (a whole audio file) to mono at `sample_rate` Hz. `cancel` stops a long decode.
Result<DecodedAudio> decode_audio(std::string_view bytes, int sample_rate, const AudioLimits& limits = {},
                                  std::stop_token cancel = {});

// Mixes interleaved frames of `channels` channels down to mono (their mean).
std::vector<float> mix_to_mono(const std::vector<float>& interleaved, int channels);

// Resamples mono `samples` from `from_rate` to `to_rate` Hz (libsamplerate, sinc medium quality).
Result<std::vector<float>> resample(const std::vector<float>& samples, int from_rate, int to_rate);

}  // namespace xervo
