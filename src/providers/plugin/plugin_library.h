// One provider plugin (include/xervo/plugin.h) opened with dlopen: its ABI version checked and its
// function table validated before anything else of it is used. A PluginLibrary is kept open for the
// life of the process (models hold its function pointers), so it is never dlclosed. Immutable once
// opened; safe to share across threads.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "xervo/error.h"
#include "xervo/plugin.h"

namespace xervo {

struct PluginLibrary {
  std::filesystem::path path;
  const xervo_plugin_api* api = nullptr;  // validated: id, tasks and the functions they need are set
  std::string id;                         // api->id, checked
  std::string version;                    // api->version, or "" when unset
};

// dlopens `path` (RTLD_NOW | RTLD_LOCAL), checks xervo_plugin_abi_version() against
// XERVO_PLUGIN_ABI_VERSION and validates the table of xervo_plugin_get_api(). Every failure is
// model_load_failed whose message starts with "plugin PATH: " and says what is wrong: not a shared
// library (dlopen's reason), a missing symbol, a different ABI version, a bad id or a missing function.
Result<std::shared_ptr<const PluginLibrary>> open_plugin_library(const std::filesystem::path& path);

// The xervo ErrorCode of a plugin status (anything unknown: internal).
ErrorCode plugin_error_code(int status);

}  // namespace xervo
