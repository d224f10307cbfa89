// A library record built from facts: what a GGUF file says about itself, and the metadata.json a
// model's folder keeps so the index can be rebuilt from the files alone. Stateless.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "library/gguf_info.h"
#include "xervo/library.h"

namespace xervo::library {

// Architecture, task, sizes, quantization, description and tags (the file's, then `extra_tags`)
// from `info`; the state becomes ready.
void apply_gguf_facts(LibraryModel& model, const GgufInfo& info, const std::vector<std::string>& extra_tags);

// The canonical metadata.json of a model in `dir`: its facts without index state. A file outside
// `dir` (a reference) is recorded as external_file.
nlohmann::json model_metadata_json(const LibraryModel& model, const std::filesystem::path& dir);

}  // namespace xervo::library
