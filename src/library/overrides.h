// overrides.json in a model's folder: the user's description, tags and task, which survive
// re-imports and reindexing. Stateless.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

#include "xervo/error.h"
#include "xervo/library.h"

namespace xervo::library {

// `model` with the overrides of `dir`/overrides.json applied (unchanged when there is none).
Result<LibraryModel> apply_overrides(LibraryModel model, const std::filesystem::path& dir);
// invalid_input unless `overrides` is an object of description (string), tags (array), task.
Result<void> check_overrides(const nlohmann::json& overrides);
// Merges `overrides` into `dir`/overrides.json (atomic write).
Result<void> merge_overrides(const std::filesystem::path& dir, const nlohmann::json& overrides);

}  // namespace xervo::library
