#include "providers/llamacpp/llama_backend.h"

#include <ggml-backend.h>
#include <llama.h>

#include <mutex>

#include "core/log.h"

namespace xervo::llamacpp {
namespace {

thread_local std::string* t_capture = nullptr;
thread_local std::vector<std::string>* t_lines = nullptr;
thread_local std::string* t_first_error = nullptr;
// llama.cpp logs a line in several calls (GGML_LOG_LEVEL_CONT); lines are assembled per thread.
thread_local std::string t_line;
thread_local ggml_log_level t_level = GGML_LOG_LEVEL_INFO;

void emit_line(ggml_log_level level, const std::string& line) {
  if (line.empty()) return;
  capture_line(level, line);
  switch (level) {
    case GGML_LOG_LEVEL_ERROR:
      spdlog::error("llama.cpp: {}", line);
      break;
    case GGML_LOG_LEVEL_WARN:
      spdlog::warn("llama.cpp: {}", line);
      break;
    default:
      spdlog::trace("llama.cpp: {}", line);  // llama.cpp is very chatty at info level
      break;
  }
}

void route_log(ggml_log_level level, const char* text, void*) {
  if (!text) return;
  if (level != GGML_LOG_LEVEL_CONT) {
    if (!t_line.empty()) emit_line(t_level, t_line);
    t_line.clear();
    t_level = level;
  }
  for (const char* p = text; *p; ++p) {
    if (*p == '\n') {
      emit_line(t_level, t_line);
      t_line.clear();
    } else {
      t_line.push_back(*p);
    }
  }
}

}  // namespace

void capture_line(ggml_log_level level, const std::string& line) {
  if (t_lines && t_lines->size() < 4096) t_lines->push_back(line);  // a load logs a few hundred
  if (t_capture && (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN)) {
    if (!t_capture->empty()) t_capture->push_back('\n');
    t_capture->append(line);
  }
  if (t_first_error && t_first_error->empty() && level == GGML_LOG_LEVEL_ERROR) t_first_error->assign(line);
}

void ensure_backend() {
  static std::once_flag once;
  std::call_once(once, [] {
    init_logging();
    llama_log_set(route_log, nullptr);
    llama_backend_init();
  });
}

void route_ggml_log() {
  ensure_backend();
  llama_log_set(route_log, nullptr);
}

LogCapture::LogCapture() {
  t_capture = &text_;
  t_lines = &lines_;
  t_first_error = &first_error_;
}
LogCapture::~LogCapture() {
  t_capture = nullptr;
  t_lines = nullptr;
  t_first_error = nullptr;
}
std::string LogCapture::errors() const { return text_; }

std::string LogCapture::reason(const std::string& fallback) const {
  if (text_.empty()) return fallback;
  // A warning can come first and be harmless (ggml-vulkan: "Failed to allocate pinned memory", then
  // it uses plain memory), so the first error wins over it.
  std::string line = !first_error_.empty() ? first_error_ : text_.substr(0, text_.find('\n'));
  if (const size_t at = line.find("error loading model: "); at != std::string::npos)
    line = line.substr(at + 21);
  return fallback + ": " + line;
}

std::string LogCapture::line_with(std::string_view needle) const {
  for (auto it = lines_.rbegin(); it != lines_.rend(); ++it)
    if (it->find(needle) != std::string::npos) return *it;
  return {};
}

ThreadpoolPtr make_threadpool(int n_threads) {
  ensure_backend();
  ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
  if (!cpu) return {};
  ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
  using NewFn = ggml_threadpool* (*)(ggml_threadpool_params*);
  using FreeFn = void (*)(ggml_threadpool*);
  auto make = reinterpret_cast<NewFn>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new"));
  auto free_fn = reinterpret_cast<FreeFn>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free"));
  if (!make || !free_fn) return {};
  ggml_threadpool_params params = ggml_threadpool_params_default(n_threads);
  return ThreadpoolPtr(make(&params), ThreadpoolDeleter{free_fn});
}

std::string backend_description() {
  ensure_backend();
  std::string out;
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    if (!out.empty()) out += ", ";
    out += ggml_backend_dev_name(dev);
    const char* desc = ggml_backend_dev_description(dev);
    if (desc && *desc) out += std::string(" (") + desc + ")";
  }
  if (out.empty()) out = "no ggml device";
  // A GPU backend built in but without a device (the CUDA build without an NVIDIA GPU or driver):
  // said, so that a model asking for GPU layers and running on the CPU is no surprise.
  for (size_t i = 0; i < ggml_backend_reg_count(); ++i) {
    ggml_backend_reg_t reg = ggml_backend_reg_get(i);
    if (ggml_backend_reg_dev_count(reg) == 0) out += std::string("; ") + ggml_backend_reg_name(reg) + ": no device";
  }
  return out;
}

std::vector<ComputeDevice> list_devices() {
  ensure_backend();
  std::vector<ComputeDevice> out;
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    ComputeDevice d;
    d.name = ggml_backend_dev_name(dev);
    const char* desc = ggml_backend_dev_description(dev);
    d.description = desc ? desc : "";
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    d.backend = reg ? ggml_backend_reg_name(reg) : "";
    switch (ggml_backend_dev_type(dev)) {
      case GGML_BACKEND_DEVICE_TYPE_CPU:
        d.type = "cpu";
        break;
      case GGML_BACKEND_DEVICE_TYPE_GPU:
        d.type = "gpu";
        break;
      case GGML_BACKEND_DEVICE_TYPE_IGPU:
        d.type = "igpu";
        break;
      default:
        d.type = "accel";
        break;
    }
    size_t free = 0, total = 0;
    ggml_backend_dev_memory(dev, &free, &total);
    d.memory_free = free;
    d.memory_total = total;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace xervo::llamacpp
