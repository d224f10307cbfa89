// Process-wide llama.cpp setup: backend initialisation (once), llama/ggml log messages routed to
// spdlog, and a per-thread capture of error messages so a failed load can say why. Safe from any
// thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "xervo/provider.h"

#include "providers/llamacpp/llama_handles.h"

namespace xervo::llamacpp {

// Initialises the llama.cpp backend and installs the log router; later calls do nothing.
void ensure_backend();
// Installs the log router as llama.cpp's and ggml's log callback again: for a library sharing this
// ggml that sets its own (whisper.cpp's whisper_log_set replaces ggml's callback, and whisper.cpp
// sets it again at every model and state it creates).
void route_ggml_log();
// Hands a line another library's log callback received (whisper.cpp's) to this thread's
// LogCapture, as if llama.cpp had logged it.
void capture_line(ggml_log_level level, const std::string& line);

// While alive, llama/ggml warnings and errors logged on this thread are collected (they explain
// why a C call returned null), and so is every other line, for the facts llama.cpp only logs (how
// many layers it offloaded). Not nestable.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  // The collected errors (one line each, newest last), or "" when none were logged.
  std::string errors() const;
  // `fallback` with the first error llama.cpp logged, which names the cause ("key not found in model:
  // llama.context_length"; the later ones only say that loading failed), else its first warning;
  // `fallback` alone when none.
  std::string reason(const std::string& fallback) const;
  // The last line logged (at any level) that contains `needle`, or "" when none did.
  std::string line_with(std::string_view needle) const;

 private:
  std::string text_;
  std::vector<std::string> lines_;
  std::string first_error_;
};

// A persistent pool of `n_threads` CPU threads for one context. Without one, ggml starts and joins
// its threads on every decode, which costs more than a small model's whole step. Null when the
// CPU backend does not offer thread pools.
ThreadpoolPtr make_threadpool(int n_threads);

// "CPU (AVX2 ...)": the compute devices ggml found, for health(), and "; CUDA: no device" for a GPU
// backend that found none.
std::string backend_description();

// Every device ggml found (ModelProvider::devices()): name, backend, type, total and free memory.
std::vector<ComputeDevice> list_devices();

}  // namespace xervo::llamacpp
