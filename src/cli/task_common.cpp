#include "cli/task_common.h"

#include <cstdlib>
#include <iostream>

#include "core/log.h"

namespace xervo::cli {

void quiet_library_logs() {
  if (std::getenv("XERVO_LOG") == nullptr) spdlog::set_level(spdlog::level::err);
}

std::vector<std::string> read_stdin_lines() {
  std::vector<std::string> lines;
  for (std::string line; std::getline(std::cin, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

}  // namespace xervo::cli
