// Finding what to import: single model files (GGUF or whisper.cpp, library/model_file.h), folders
// of them, a Hugging Face cache (models--ORG--NAME/snapshots/REV/*.gguf|*.bin -> blobs/) and an Ollama models
// folder (manifests -> blobs/sha256-*). Every input is checked before anything is written; a bad one becomes
// an error outcome and the scan goes on. Stateless.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "xervo/library.h"

namespace xervo::library {

// One file to import, found by a scan.
struct ImportJob {
  std::filesystem::path source;  // as found (may be a symlink inside a cache)
  std::filesystem::path real;    // the regular file it names
  std::string publisher, name, source_kind;
  std::string hub_repo, hub_revision, hub_file;
  bool prefer_reference = false;  // cache blobs (Ollama, Hugging Face): referenced when linking fails
};

ImportOutcome import_failure(const std::filesystem::path& source, Error error);

// The jobs of one input path (absolute), appending an error outcome per bad entry. `home` is the
// library's: inputs inside it are refused.
void scan_input(const std::filesystem::path& input, const std::filesystem::path& home,
                std::vector<ImportJob>& jobs, std::vector<ImportOutcome>& errors);

}  // namespace xervo::library
