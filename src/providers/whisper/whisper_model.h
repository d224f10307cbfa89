// A loaded whisper.cpp model and its TranscriberModel: audio decoded and resampled to 16 kHz mono
// (core/audio_decode.h), run through whisper_full with segments streamed from its new-segment
// callback. One whisper_state per model: calls on one model run one at a time (a second caller
// waits), calls on different models run in parallel. Internal to the provider.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "core/audio_decode.h"
#include "core/whisper_file.h"
#include "xervo/transcriber.h"

struct whisper_context;
struct whisper_state;

namespace xervo::whisper {

struct WhisperOptions {
  int threads = 0;       // 0: every core
  std::string language;  // default language when a request names none; "" or "auto": detect
  int beam_size = 0;     // 0: greedy; 2..8: beam search
  double max_audio_seconds = 3 * 3600.0;
  bool use_gpu = false;  // whisper.cpp's GPU use (only with a GPU backend in ggml)
  int gpu_margin_mb = 512;  // use_gpu: MiB the model must leave free on the device, else the CPU
};

struct ContextDeleter {
  void operator()(whisper_context* c) const;
};
struct StateDeleter {
  void operator()(whisper_state* s) const;
};
using ContextPtr = std::unique_ptr<whisper_context, ContextDeleter>;
using StatePtr = std::unique_ptr<whisper_state, StateDeleter>;

class WhisperTranscriber final : public TranscriberModel {
 public:
  WhisperTranscriber(ContextPtr ctx, StatePtr state, WhisperFileFacts facts, WhisperOptions options,
                     std::string name);
  using TranscriberModel::transcribe;
  Result<Transcription> transcribe(const TranscribeRequest& request,
                                   const SegmentCallback& on_segment) override;

 private:
  ContextPtr ctx_;
  std::mutex run_mu_;
  StatePtr state_;  // GUARDED_BY(run_mu_)
  const WhisperFileFacts facts_;
  const WhisperOptions options_;
  const std::string name_;
};

// Silences whisper.cpp's own log (routed to spdlog) without taking ggml's log from llama.cpp's router.
void ensure_whisper_logging();

}  // namespace xervo::whisper
