// How a library's home is laid out: the paths every part of src/library builds on (the default
// home itself is xervo::default_home() of xervo/config.h). Plain values; safe from any thread.
#pragma once

#include <filesystem>
#include <string>

#include "xervo/error.h"

namespace xervo::library {

// The folders and files of one home (see docs/library.md, "Layout on disk").
struct LibraryLayout {
  std::filesystem::path home;

  std::filesystem::path models() const { return home / "models"; }
  std::filesystem::path staging() const { return home / "tmp"; }
  std::filesystem::path cache() const { return home / "cache"; }
  std::filesystem::path mappings() const { return home / "mappings"; }
  std::filesystem::path index_file() const { return home / "models.db"; }
  // Held by whoever allocates ids, places files or rebuilds the index (threads and processes).
  std::filesystem::path commit_lock() const { return home / "library.lock"; }
  std::filesystem::path model_dir(const std::string& publisher, const std::string& name) const {
    return models() / publisher / name;
  }
};

}  // namespace xervo::library
