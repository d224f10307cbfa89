#include "providers/whisper/whisper_model.h"

#include <whisper.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include "core/log.h"
#include "providers/llamacpp/llama_backend.h"

namespace xervo::whisper {

void ContextDeleter::operator()(whisper_context* c) const { whisper_free(c); }
void StateDeleter::operator()(whisper_state* s) const { whisper_free_state(s); }

namespace {

void whisper_log(ggml_log_level level, const char* text, void*) {
  if (!text) return;
  std::string line(text);
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  if (line.empty()) return;
  llamacpp::capture_line(level, line);
  if (level == GGML_LOG_LEVEL_ERROR)
    spdlog::error("whisper.cpp: {}", line);
  else if (level == GGML_LOG_LEVEL_WARN)
    spdlog::warn("whisper.cpp: {}", line);
  else
    spdlog::trace("whisper.cpp: {}", line);
}

int thread_count(const WhisperOptions& o) {
  if (o.threads > 0) return o.threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// What one run hands its callbacks.
struct RunState {
  const TranscribeRequest* request = nullptr;
  const SegmentCallback* on_segment = nullptr;
  std::vector<TranscriptSegment> segments;
  bool refused = false;  // the caller's callback returned false
  bool stopped() const { return refused || request->cancel.stop_requested(); }
};

std::string trimmed(std::string s) {
  size_t a = s.find_first_not_of(' ');
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(' ') - a + 1);
}

// A segment as callers see it: text without whisper's leading space.
TranscriptSegment segment_at(whisper_state* state, int i) {
  TranscriptSegment s;
  s.start_ms = whisper_full_get_segment_t0_from_state(state, i) * 10;  // whisper counts 10 ms steps
  s.end_ms = whisper_full_get_segment_t1_from_state(state, i) * 10;
  const char* text = whisper_full_get_segment_text_from_state(state, i);
  s.text = trimmed(text ? text : "");
  return s;
}

void on_new_segments(whisper_context*, whisper_state* state, int n_new, void* user) {
  auto* run = static_cast<RunState*>(user);
  const int total = whisper_full_n_segments_from_state(state);
  for (int i = std::max(0, total - n_new); i < total; ++i) {
    run->segments.push_back(segment_at(state, i));
    if (run->on_segment && *run->on_segment && !run->refused && !(*run->on_segment)(run->segments.back()))
      run->refused = true;
  }
}

}  // namespace

void ensure_whisper_logging() {
  static std::once_flag once;
  std::call_once(once, [] {
    whisper_log_set(whisper_log, nullptr);
    llamacpp::route_ggml_log();  // whisper_log_set took ggml's callback too: give it back
  });
}

WhisperTranscriber::WhisperTranscriber(ContextPtr ctx, StatePtr state, WhisperFileFacts facts,
                                       WhisperOptions options, std::string name)
    : ctx_(std::move(ctx)),
      state_(std::move(state)),
      facts_(facts),
      options_(std::move(options)),
      name_(std::move(name)) {}

Result<Transcription> WhisperTranscriber::transcribe(const TranscribeRequest& request,
                                                     const SegmentCallback& on_segment) {
  std::string language = request.language.empty() ? options_.language : request.language;
  if (language == "auto") language.clear();
  if (!language.empty() && whisper_lang_id(language.c_str()) < 0)
    return Error(ErrorCode::invalid_input, "unknown language '" + language.substr(0, 16) +
                                               "': use an ISO 639-1 code such as en, de or fr");
  if (!facts_.multilingual()) {
    if (!language.empty() && language != "en")
      return Error(ErrorCode::invalid_input,
                   name_ + " is an English-only model; it cannot transcribe language '" + language + "'");
    language = "en";
  }
  AudioLimits limits;
  limits.max_seconds = options_.max_audio_seconds;
  auto audio = decode_audio(request.audio, WHISPER_SAMPLE_RATE, limits, request.cancel);
  if (!audio) return audio.error();

  whisper_full_params p = whisper_full_default_params(options_.beam_size > 1 ? WHISPER_SAMPLING_BEAM_SEARCH
                                                                             : WHISPER_SAMPLING_GREEDY);
  if (options_.beam_size > 1) p.beam_search.beam_size = options_.beam_size;
  p.n_threads = thread_count(options_);
  p.print_progress = false;
  p.print_realtime = false;
  p.print_timestamps = false;
  p.print_special = false;
  p.language = language.empty() ? "auto" : language.c_str();
  p.detect_language = false;  // with "auto", whisper detects and then transcribes
  p.temperature = std::clamp(request.temperature, 0.0f, 1.0f);
  p.initial_prompt = request.prompt.empty() ? nullptr : request.prompt.c_str();
  p.suppress_blank = true;

  RunState run;
  run.request = &request;
  run.on_segment = &on_segment;
  p.new_segment_callback = on_new_segments;
  p.new_segment_callback_user_data = &run;
  p.encoder_begin_callback = [](whisper_context*, whisper_state*, void* user) {
    return !static_cast<RunState*>(user)->stopped();
  };
  p.encoder_begin_callback_user_data = &run;
  p.abort_callback = [](void* user) { return static_cast<RunState*>(user)->stopped(); };
  p.abort_callback_user_data = &run;

  std::lock_guard lock(run_mu_);
  if (run.stopped()) return Error(ErrorCode::cancelled, "transcription cancelled");
  const int rc = whisper_full_with_state(ctx_.get(), state_.get(), p, audio->samples.data(),
                                         static_cast<int>(audio->samples.size()));
  if (run.stopped()) return Error(ErrorCode::cancelled, "transcription cancelled");
  if (rc != 0)
    return Error(ErrorCode::inference_failed,
                 name_ + ": whisper.cpp failed (code " + std::to_string(rc) + ")");

  Transcription t;
  const int n = whisper_full_n_segments_from_state(state_.get());
  const whisper_token eot = whisper_token_eot(ctx_.get());
  for (int i = 0; i < n; ++i) {
    TranscriptSegment s =
        i < static_cast<int>(run.segments.size()) ? run.segments[i] : segment_at(state_.get(), i);
    if (!t.text.empty() && !s.text.empty()) t.text += ' ';
    t.text += s.text;
    t.segments.push_back(std::move(s));
    for (int k = 0; k < whisper_full_n_tokens_from_state(state_.get(), i); ++k)
      if (whisper_full_get_token_id_from_state(state_.get(), i, k) < eot) ++t.usage.completion_tokens;
  }
  t.text = trimmed(t.text);
  const int lang = whisper_full_lang_id_from_state(state_.get());
  t.language = lang >= 0 ? whisper_lang_str(lang) : language;
  t.duration_s = audio->duration_s();
  return t;
}

}  // namespace xervo::whisper
