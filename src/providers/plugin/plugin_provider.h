// A ModelProvider over one opened plugin library: loads its models through the plugin's table and
// wraps them in the typed handles, checking everything the plugin hands back (statuses, vector
// lengths, scores, messages) before it reaches a caller. Thread-safe as every provider; calls on a
// model of a plugin that is not XERVO_PLUGIN_THREAD_SAFE run one at a time.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "providers/plugin/plugin_library.h"
#include "xervo/provider.h"

namespace xervo {

// `settings`: the [providers.ID] table of the config, handed to the plugin's load() as JSON.
std::shared_ptr<ModelProvider> make_plugin_provider(std::shared_ptr<const PluginLibrary> library,
                                                    nlohmann::json settings);

}  // namespace xervo
