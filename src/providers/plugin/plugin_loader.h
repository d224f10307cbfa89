// Finds and loads provider plugins: every shared library in the folders of the config's [plugins]
// paths and of $XERVO_PLUGIN_PATH, each registered on a builder as a provider under its own id. A
// plugin that fails (not a library, wrong ABI version, missing symbol, taken id) is an error naming
// its file, logged and reported, and the others load all the same.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "providers/plugin/plugin_library.h"
#include "xervo/error.h"
#include "xervo/runtime.h"

namespace xervo {

struct PluginLoadReport {
  std::vector<std::shared_ptr<const PluginLibrary>> loaded;  // in load order
  std::vector<Error> errors;                                 // each names its file
};

// [plugins] paths (the config keeps the section as Config::providers["plugins"], see config.cpp)
// followed by the ':'-separated folders of XERVO_PLUGIN_PATH.
std::vector<std::filesystem::path> plugin_search_paths(const nlohmann::json& plugins_section);

// Opens every plugin under `paths`: a folder gives its *.so files (not its subfolders) in name order,
// a file is taken as it is. A library reached twice is opened once; a second plugin with an id in
// `taken_ids` (or one loaded before it) is refused. Adds the ids it loaded to `taken_ids`.
PluginLoadReport load_plugins(const std::vector<std::filesystem::path>& paths,
                              std::set<std::string>& taken_ids);

// load_plugins over plugin_search_paths(plugins_section), each loaded plugin added to `builder` as a
// provider with builder.provider_settings(its id); errors are logged (error level) and returned.
PluginLoadReport add_plugin_providers(RuntimeBuilder& builder, const nlohmann::json& plugins_section,
                                      std::set<std::string> taken_ids);

}  // namespace xervo
