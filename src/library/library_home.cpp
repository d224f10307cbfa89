#include "library/library_home.h"

#include <cstdlib>

namespace xervo::library {

std::filesystem::path default_library_home() {
  if (const char* env = std::getenv("XERVO_HOME"); env && *env) return env;
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".local" / "share" / "xervo";
  return {};
}

}  // namespace xervo::library
