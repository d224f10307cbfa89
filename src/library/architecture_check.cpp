#include "library/architecture_check.h"

#include <llama.h>

#include <map>
#include <mutex>

namespace xervo::library {
namespace {

// llama.cpp logs a page per load. While this thread runs an architecture check, its lines are
// kept (errors only, for the detail) instead of printed; other threads go to the callback that was
// installed before, so a provider's own log routing keeps working.
thread_local std::string* t_capture = nullptr;
ggml_log_callback g_previous_log = nullptr;
void* g_previous_log_data = nullptr;

void capture_log(ggml_log_level level, const char* text, void* user_data) {
  if (t_capture) {
    if (level == GGML_LOG_LEVEL_ERROR && text) t_capture->append(text);
    return;
  }
  if (g_previous_log) g_previous_log(level, text, g_previous_log_data);
}

void install_capture() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_log_get(&g_previous_log, &g_previous_log_data);
    llama_log_set(capture_log, nullptr);
  });
}

// The first error line names the cause ("error loading model: unknown model architecture: 'x'").
std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

}  // namespace

ArchitectureCheck check_architecture(const LibraryModel& model) {
  static std::mutex mutex;
  static std::map<std::string, ArchitectureCheck> cache;
  {
    std::lock_guard lock(mutex);
    if (auto it = cache.find(model.sha256); it != cache.end()) return it->second;
  }
  install_capture();
  llama_model_params params = llama_model_default_params();
  params.vocab_only = true;
  std::string errors;
  t_capture = &errors;
  llama_model* m = llama_model_load_from_file(model.file.c_str(), params);
  t_capture = nullptr;
  std::string why = first_line(errors);
  ArchitectureCheck result{m != nullptr, m ? "llama.cpp reads '" + model.architecture + "'"
                                           : "the linked llama.cpp cannot load architecture '" +
                                                 model.architecture + "'" +
                                                 (why.empty() ? "" : " (" + why + ")")};
  if (m) llama_model_free(m);
  std::lock_guard lock(mutex);
  cache[model.sha256] = result;
  return result;
}

}  // namespace xervo::library
