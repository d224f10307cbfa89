// Speech to text: an audio file in (WAV, FLAC, Ogg/Vorbis, Ogg/Opus, MP3: whatever the provider
// decodes), the transcript out, with timed segments and the spoken language. Segments may be
// streamed as they are decoded. Safe to call from any number of threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "xervo/error.h"
#include "xervo/usage.h"

namespace xervo {

struct TranscribeRequest {
  std::string audio;         // the file's bytes, as uploaded (a local provider decodes them)
  std::string filename;      // the upload's name ("talk.mp3"): a hint for remote APIs, never a path
  std::string language;      // ISO 639-1 code ("en") of the speech; empty: detected
  std::string prompt;        // text the speech continues (names, spelling, style); may be empty
  float temperature = 0.0f;  // 0 = greedy decoding
  std::stop_token cancel;    // request_stop() abandons the call (cancelled)
};

// A stretch of speech and its text. Times are from the start of the audio.
struct TranscriptSegment {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  std::string text;
};

struct Transcription {
  std::string text;       // the whole transcript (the segments' texts joined)
  std::string language;   // ISO 639-1 code: the one asked for, or the one detected
  double duration_s = 0;  // length of the audio
  std::vector<TranscriptSegment> segments;
  Usage usage;  // completion_tokens: text tokens decoded (where the provider counts them)
  std::string served_by;
};

// Receives each segment as soon as it is decoded, in order. Return false to cancel.
using SegmentCallback = std::function<bool(const TranscriptSegment& segment)>;

class TranscriberModel {
 public:
  virtual ~TranscriberModel() = default;
  virtual Result<Transcription> transcribe(const TranscribeRequest& request,
                                           const SegmentCallback& on_segment) = 0;
  Result<Transcription> transcribe(const TranscribeRequest& request) { return transcribe(request, {}); }
};

}  // namespace xervo
