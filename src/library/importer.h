// Importing scanned files: each is checked, staged the way its mode says (a hard link or copy in
// tmp/, the user's own file hashed where it is for a move, or a reference), hashed, and handed to
// ModelStore::commit(). A crash at any step leaves the user's bytes at their source or committed.
#pragma once

#include <filesystem>
#include <vector>

#include "library/model_store.h"
#include "xervo/library.h"

namespace xervo::library {

// Outcomes in the order of `paths` (the entries of a folder in name order).
std::vector<ImportOutcome> import_paths(ModelStore& store, const std::vector<std::filesystem::path>& paths,
                                        const ImportOptions& options);

}  // namespace xervo::library
