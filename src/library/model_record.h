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

// Architecture, task, sizes, quantization, description, tags (the file's, then `extra_tags`) and
// the conversion from `info`; the state becomes ready. A conversion's date and checkpoint, which
// the file does not hold, are kept from `model`.
void apply_gguf_facts(LibraryModel& model, const GgufInfo& info, const std::vector<std::string>& extra_tags);

// A conversion as to_json writes it ("conversion"), and back. The reader is for metadata.json and
// index rows, which may be damaged: a value of the wrong type reads as absent, text and the number
// of sources are bounded (gguf_info.h). Not an object -> nullopt.
nlohmann::json conversion_json(const ModelConversion& conversion);
std::optional<ModelConversion> conversion_from_json(const nlohmann::json& j);

// The canonical metadata.json of a model in `dir`: its facts without index state. A file outside
// `dir` (a reference) is recorded as external_file.
nlohmann::json model_metadata_json(const LibraryModel& model, const std::filesystem::path& dir);

}  // namespace xervo::library
