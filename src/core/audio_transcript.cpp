#include "core/audio_transcript.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace xervo {

std::optional<TranscriptFormat> parse_transcript_format(std::string_view name) {
  if (name == "json") return TranscriptFormat::json;
  if (name == "verbose_json") return TranscriptFormat::verbose_json;
  if (name == "text") return TranscriptFormat::text;
  if (name == "srt") return TranscriptFormat::srt;
  if (name == "vtt") return TranscriptFormat::vtt;
  return std::nullopt;
}

std::string subtitle_time(int64_t ms, char separator) {
  if (ms < 0) ms = 0;
  return fmt::format("{:02}:{:02}:{:02}{}{:03}", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, separator,
                     ms % 1000);
}

namespace {

// A subtitle cue never holds a blank line (it would end the cue).
std::string cue_text(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\r') continue;
    if (c == '\n' && (out.empty() || out.back() == '\n')) continue;
    out.push_back(c);
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  // "-->" inside a cue would read as a timing line.
  for (size_t at; (at = out.find("-->")) != std::string::npos;) out.replace(at, 3, "->");
  return out;
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

FormattedTranscript format_transcript(const Transcription& t, TranscriptFormat format) {
  switch (format) {
    case TranscriptFormat::json:
      return {dump({{"text", t.text},
                    {"usage", {{"type", "tokens"}, {"output_tokens", t.usage.completion_tokens}}}}),
              "application/json"};
    case TranscriptFormat::verbose_json: {
      nlohmann::json segments = nlohmann::json::array();
      for (size_t i = 0; i < t.segments.size(); ++i) {
        const auto& s = t.segments[i];
        segments.push_back({{"id", i},
                            {"start", static_cast<double>(s.start_ms) / 1000.0},
                            {"end", static_cast<double>(s.end_ms) / 1000.0},
                            {"text", s.text}});
      }
      return {dump({{"task", "transcribe"},
                    {"language", t.language},
                    {"duration", t.duration_s},
                    {"text", t.text},
                    {"segments", segments}}),
              "application/json"};
    }
    case TranscriptFormat::text:
      return {t.text + "\n", "text/plain; charset=utf-8"};
    case TranscriptFormat::srt: {
      std::string out;
      for (size_t i = 0; i < t.segments.size(); ++i) {
        const auto& s = t.segments[i];
        out += fmt::format("{}\n{} --> {}\n{}\n\n", i + 1, subtitle_time(s.start_ms, ','),
                           subtitle_time(s.end_ms, ','), cue_text(s.text));
      }
      return {out, "application/x-subrip; charset=utf-8"};
    }
    case TranscriptFormat::vtt: {
      std::string out = "WEBVTT\n\n";
      for (const auto& s : t.segments)
        out += fmt::format("{} --> {}\n{}\n\n", subtitle_time(s.start_ms, '.'), subtitle_time(s.end_ms, '.'),
                           cue_text(s.text));
      return {out, "text/vtt; charset=utf-8"};
    }
  }
  return {t.text, "text/plain; charset=utf-8"};
}

}  // namespace xervo
