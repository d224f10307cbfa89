#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <cstdlib>
#include <mutex>

namespace xervo {

void init_logging() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Logs go to stderr so that stdout stays clean for results (CLI pipes, JSON).
    auto logger = spdlog::stderr_color_mt("xervo");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    const char* level = std::getenv("XERVO_LOG");
    spdlog::set_level(level && *level ? spdlog::level::from_str(level) : spdlog::level::info);
  });
}

}  // namespace xervo
