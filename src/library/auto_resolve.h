// "auto:TASK" to a library model: the auto catalog's best fit for this machine (auto_select.h),
// the library's copy when it has one, else pulled from the Hub now, its progress in the log. Used by
// the library resolver (make_library_resolver); safe from any thread.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <string_view>

#include "xervo/library.h"

namespace xervo::library {

// The library id of the model chosen for `id` ("auto:embed"). `library_settings` and `config_file`
// locate the catalog (find_auto_catalog). insufficient_memory when no candidate fits, listing why
// each was rejected; model_not_found when the catalog has none for the task.
Result<std::string> resolve_auto_model(ModelLibrary& library, std::string_view id,
                                       const nlohmann::json& library_settings,
                                       const std::filesystem::path& config_file,
                                       const AutoModelContext& context, std::stop_token stop);

}  // namespace xervo::library
