// default_home(): where xervo keeps its data when no [library] home is configured. One function so
// that the library, the server's demo models and the CLI agree on the folder.
#include <cstdlib>

#include "xervo/config.h"

namespace xervo {

std::filesystem::path default_home() {
  if (const char* env = std::getenv("XERVO_HOME"); env && *env) return env;
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".local" / "share" / "xervo";
  return {};
}

}  // namespace xervo
