// Where a library lives and how its home is laid out: the one resolution of the default home and
// the paths every part of src/library builds on. Plain values; safe from any thread.
#pragma once

#include <filesystem>
#include <string>

#include "xervo/error.h"

namespace xervo::library {

// $XERVO_HOME, else $HOME/.local/share/xervo; empty when neither is set. Every default home of the
// library comes from here. (To become xervo::default_home() of xervo/config.h once that lands.)
std::filesystem::path default_library_home();

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
