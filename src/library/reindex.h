// Rebuilding the index from the files: every models/<publisher>/<name>/ folder with a model file
// (or the reference its metadata.json names) becomes a row again, with its overrides. The new
// index is built beside models.db and renamed over it, under the commit lock.
#pragma once

#include "library/library_home.h"
#include "xervo/library.h"

namespace xervo::library {

// `options.home` must be set (absolute).
Result<ReindexReport> rebuild_index(const LibraryOptions& options);

// Models folders under models/ that hold a model file or metadata.json: what an index that
// reads as empty would be hiding.
int count_model_folders(const LibraryLayout& layout);

}  // namespace xervo::library
