#include "cli/access_paths.h"

#include "xervo/config.h"

namespace xervo::cli {

void fill_access_defaults(ServerOptions& options) {
  const std::filesystem::path home = default_home();
  if (home.empty()) return;  // no home: only what the config names
  if (options.keys_file.empty()) options.keys_file = home / "keys.json";
  if (options.audit.path.empty()) options.audit.path = home / "audit.log";
}

}  // namespace xervo::cli
