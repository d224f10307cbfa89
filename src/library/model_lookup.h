// Looking a model up by any id the library accepts: "library:ID", a bare "publisher/name", or
// "hf:ORG/REPO[:QUANT|/FILE]" (the pulled file that ref would pick).
#pragma once

#include <string_view>

#include "library/model_store.h"

namespace xervo::library {

Result<LibraryModel> find_model(ModelStore& store, std::string_view model_id);
// get by exact id; model_not_found says how to list the library.
Result<LibraryModel> get_model(ModelStore& store, std::string_view id);

}  // namespace xervo::library
