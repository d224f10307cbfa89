// Audio decoding for speech to text: each container libsndfile reads, mixed to mono and resampled to
// 16 kHz with the right length and pitch; hostile files (empty, garbage, truncated, lying headers,
// too long, too many channels) refused with a clear invalid_input, never a crash or a huge allocation.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/audio_decode.h"
#include "core/audio_transcript.h"

namespace xervo {
namespace {

// A tone of `hz` for `seconds`, interleaved over `channels`, at `rate`.
std::vector<float> tone(double hz, double seconds, int rate, int channels) {
  std::vector<float> out;
  const auto frames = static_cast<size_t>(seconds * rate);
  for (size_t i = 0; i < frames; ++i)
    for (int c = 0; c < channels; ++c)
      out.push_back(0.5f * static_cast<float>(std::sin(2 * M_PI * hz * i / rate)));
  return out;
}

// `samples` written by libsndfile in `format`, read back as bytes.
std::string encode(const std::vector<float>& samples, int rate, int channels, int format) {
  auto path = std::filesystem::temp_directory_path() /
              ("xervo-audio-" + std::to_string(::getpid()) + "-" + std::to_string(format) + ".bin");
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  EXPECT_NE(f, nullptr) << sf_strerror(nullptr);
  if (!f) return {};
  sf_writef_float(f, samples.data(), static_cast<sf_count_t>(samples.size() / channels));
  sf_close(f);
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  std::filesystem::remove(path);
  return bytes.str();
}

// Sign changes per second of mono samples: twice the frequency of a pure tone.
double crossings_per_second(const std::vector<float>& s, int rate) {
  size_t n = 0;
  for (size_t i = 1; i < s.size(); ++i) n += (s[i - 1] < 0) != (s[i] < 0);
  return static_cast<double>(n) * rate / static_cast<double>(s.size());
}

// A 16-bit PCM WAV header claiming `data_bytes` of data and `channels` channels, with `payload` after it.
std::string wav(uint32_t data_bytes, uint16_t channels, uint32_t rate, const std::string& payload) {
  std::string h;
  auto u32 = [&](uint32_t v) { h.append(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](uint16_t v) { h.append(reinterpret_cast<const char*>(&v), 2); };
  h += "RIFF";
  u32(36 + data_bytes);
  h += "WAVEfmt ";
  u32(16);
  u16(1);
  u16(channels);
  u32(rate);
  u32(rate * channels * 2);
  u16(static_cast<uint16_t>(channels * 2));
  u16(16);
  h += "data";
  u32(data_bytes);
  return h + payload;
}

struct Container {
  const char* name;
  int format;
  double tolerance_s;  // lossy codecs pad the start or end
};

TEST(AudioDecode, EveryContainerDecodesToSixteenKilohertzMono) {
  const auto samples = tone(440, 1.0, 44100, 2);
  for (const Container& c : {Container{"wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 0.01},
                             Container{"flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 0.01},
                             Container{"ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 0.05},
                             Container{"opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 0.1},
                             Container{"mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 0.1}}) {
    int rate = c.format == (SF_FORMAT_OGG | SF_FORMAT_OPUS) ? 48000 : 44100;
    auto bytes = encode(rate == 44100 ? samples : tone(440, 1.0, rate, 2), rate, 2, c.format);
    ASSERT_FALSE(bytes.empty()) << c.name;
    auto audio = decode_audio(bytes, 16000);
    ASSERT_TRUE(audio.ok()) << c.name << ": " << audio.error().to_string();
    EXPECT_EQ(audio->sample_rate, 16000) << c.name;
    EXPECT_EQ(audio->source_channels, 2) << c.name;
    EXPECT_NEAR(audio->duration_s(), 1.0, c.tolerance_s) << c.name;
    EXPECT_NEAR(crossings_per_second(audio->samples, 16000), 880, 30) << c.name;  // still 440 Hz
  }
}

TEST(AudioDecode, StereoIsTheMeanOfItsChannels) {
  EXPECT_EQ(mix_to_mono({1.0f, 0.0f, -1.0f, -1.0f}, 2), (std::vector<float>{0.5f, -1.0f}));
}

TEST(AudioDecode, EmptyAndGarbageAreClearErrors) {
  for (const std::string& bytes :
       {std::string(), std::string("not audio at all, just some text"), std::string(4096, '\xff')}) {
    auto r = decode_audio(bytes, 16000);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::invalid_input);
    EXPECT_NE(r.error().message().find("cannot decode the audio"), std::string::npos) << r.error().message();
  }
}

TEST(AudioDecode, AHeaderWithNoSamplesIsAnError) {
  auto r = decode_audio(wav(0, 1, 16000, ""), 16000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::invalid_input);
}

TEST(AudioDecode, ALyingHeaderDecodesOnlyWhatIsThere) {
  // The header claims almost 4 GiB of samples; 2000 bytes (1000 frames) follow.
  auto r = decode_audio(wav(0xFFFFFFF0u, 1, 16000, std::string(2000, '\x10')), 16000);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->samples.size(), 1000u);
}

TEST(AudioDecode, ATruncatedFileDecodesItsWholeFrames) {
  auto full = encode(tone(300, 0.5, 16000, 1), 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  auto r = decode_audio(full.substr(0, full.size() / 2), 16000);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_NEAR(r->duration_s(), 0.25, 0.01);
  auto header_only = decode_audio(full.substr(0, 40), 16000);
  EXPECT_FALSE(header_only.ok());
}

TEST(AudioDecode, TooLongOrTooManyChannelsIsRefused) {
  AudioLimits limits;
  limits.max_seconds = 0.5;
  auto bytes = encode(tone(300, 1.0, 16000, 1), 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  auto r = decode_audio(bytes, 16000, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("longer than"), std::string::npos) << r.error().message();
  auto many = decode_audio(wav(4000, 200, 16000, std::string(4000, '\0')), 16000);
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.error().code(), ErrorCode::invalid_input);
}

TEST(AudioDecode, CancelStopsTheDecode) {
  std::stop_source stop;
  stop.request_stop();
  auto bytes = encode(tone(300, 1.0, 16000, 1), 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  auto r = decode_audio(bytes, 16000, {}, stop.get_token());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::cancelled);
}

TEST(AudioTranscript, SubtitlesAndJsonShapes) {
  Transcription t;
  t.text = "Hello there. General Kenobi.";
  t.language = "en";
  t.duration_s = 3.5;
  t.segments = {{0, 1250, "Hello there."}, {1250, 3723500, "General\n\nKenobi."}};
  EXPECT_EQ(format_transcript(t, TranscriptFormat::srt).body,
            "1\n00:00:00,000 --> 00:00:01,250\nHello there.\n\n2\n00:00:01,250 --> "
            "01:02:03,500\nGeneral\nKenobi.\n\n");
  EXPECT_EQ(format_transcript(t, TranscriptFormat::vtt).body,
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.250\nHello there.\n\n00:00:01.250 --> "
            "01:02:03.500\nGeneral\nKenobi.\n\n");
  EXPECT_EQ(format_transcript(t, TranscriptFormat::text).body, "Hello there. General Kenobi.\n");
  auto verbose = nlohmann::json::parse(format_transcript(t, TranscriptFormat::verbose_json).body);
  EXPECT_EQ(verbose["language"], "en");
  EXPECT_EQ(verbose["segments"][1]["start"], 1.25);
  EXPECT_EQ(nlohmann::json::parse(format_transcript(t, TranscriptFormat::json).body)["text"], t.text);
  EXPECT_FALSE(parse_transcript_format("xml"));
}

}  // namespace
}  // namespace xervo
