// A Transcription in the shapes clients ask for (OpenAI's response_format): json ({"text"}),
// verbose_json (language, duration, segments), text, srt and vtt subtitles. Shared by the server's
// /v1/audio/transcriptions and `xervo transcribe`. Pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "xervo/transcriber.h"

namespace xervo {

enum class TranscriptFormat { json, verbose_json, text, srt, vtt };
std::optional<TranscriptFormat> parse_transcript_format(std::string_view name);

struct FormattedTranscript {
  std::string body;
  std::string content_type;  // "application/json", "text/plain; charset=utf-8", "text/vtt"...
};

FormattedTranscript format_transcript(const Transcription& t, TranscriptFormat format);

// "00:01:02,345" (srt, comma) or "00:01:02.345" (vtt, dot).
std::string subtitle_time(int64_t ms, char separator);

}  // namespace xervo
