// `xervo transcribe -m MODEL FILE [--language L] [--prompt P] [--format json|verbose_json|text|srt|vtt]`:
// speech to text. Without --format, segments print as they are decoded ("[start --> end] text").
// Ctrl-C stops the transcription.
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/task_common.h"
#include "cli/task_interrupt.h"
#include "core/audio_transcript.h"

namespace xervo::cli {
namespace {

struct TranscribeFlags {
  std::string model;
  std::string file;
  std::string language;
  std::string prompt;
  std::string format;
  float temperature = 0;
};

void run_transcribe(const GlobalOptions& globals, const TranscribeFlags& flags) {
  std::optional<TranscriptFormat> format;
  if (!flags.format.empty()) {
    format = parse_transcript_format(flags.format);
    if (!format)
      throw Exception(
          Error(ErrorCode::invalid_input,
                "--format must be json, verbose_json, text, srt or vtt, not '" + flags.format + "'"));
  }
  TranscribeRequest request;
  request.audio = read_text_file(flags.file);
  request.filename = std::filesystem::path(flags.file).filename().string();
  request.language = flags.language;
  request.prompt = flags.prompt;
  request.temperature = flags.temperature;
  quiet_library_logs();
  auto runtime = open_runtime(globals);
  auto model = runtime->transcriber(model_id_for(globals, *runtime, flags.model)).value_or_throw();
  InterruptScope interrupt;
  request.cancel = interrupt.token();
  SegmentCallback on_segment;
  if (!format)
    on_segment = [](const TranscriptSegment& s) {
      std::printf("[%s --> %s] %s\n", subtitle_time(s.start_ms, '.').c_str(),
                  subtitle_time(s.end_ms, '.').c_str(), s.text.c_str());
      std::fflush(stdout);
      return true;
    };
  auto result = model->transcribe(request, on_segment);
  if (!result && interrupt.interrupted())
    throw Exception(Error(ErrorCode::cancelled, "transcription interrupted"));
  auto t = std::move(result).value_or_throw();
  if (format) {
    std::fputs(format_transcript(t, *format).body.c_str(), stdout);
    if (*format == TranscriptFormat::json || *format == TranscriptFormat::verbose_json)
      std::fputs("\n", stdout);
  } else {
    std::fprintf(stderr, "language %s, %.1f s of audio, %zu segments\n", t.language.c_str(), t.duration_s,
                 t.segments.size());
  }
}

void setup_transcribe(CLI::App& app, GlobalOptions& globals) {
  auto flags = std::make_shared<TranscribeFlags>();
  auto* cmd =
      app.add_subcommand("transcribe", "Speech to text: transcribe an audio file (WAV, FLAC, Ogg, MP3)");
  cmd->add_option("-m,--model", flags->model, "alias, whisper model file, library:ID or PROVIDER:MODEL")
      ->required();
  cmd->add_option("file", flags->file, "the audio file")->required()->check(CLI::ExistingFile);
  cmd->add_option("-l,--language", flags->language, "ISO 639-1 code of the speech (default: detected)");
  cmd->add_option("--prompt", flags->prompt, "text the speech continues (names, spelling)");
  cmd->add_option("--temperature", flags->temperature, "0 (default) decodes greedily")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option(
      "-f,--format", flags->format,
      "print the whole result as json, verbose_json, text, srt or vtt (default: segments as decoded)");
  add_demo_flag(cmd, globals);
  cmd->callback([&globals, flags] { run_transcribe(globals, *flags); });
}

}  // namespace

XERVO_CLI_COMMAND(34, setup_transcribe);

}  // namespace xervo::cli
