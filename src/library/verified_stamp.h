// verified.json in a model's folder: the file's inode, size and mtime when it was last hashed, so
// checks need not re-hash an unchanged file. Stateless; callers serialize writes of one folder.
#pragma once

#include <filesystem>
#include <string>

#include "xervo/error.h"
#include "xervo/library.h"

namespace xervo::library {

Result<void> write_verified_stamp(const std::filesystem::path& dir, const std::filesystem::path& file,
                                  const std::string& sha256);
// The sha256 the stamp in `dir` vouches for, when the file is still the one that was hashed.
std::string stamped_sha256(const std::filesystem::path& dir, const std::filesystem::path& file);
// Whether model.file holds model.sha256: the stamp when it matches, else a re-hash (which
// refreshes the stamp unless `may_write` is false).
Result<bool> check_verified(const std::filesystem::path& dir, const LibraryModel& model,
                            bool may_write = true);

}  // namespace xervo::library
