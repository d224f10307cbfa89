// Whether the linked llama.cpp can read a model's architecture: a vocabulary-only load runs
// llama.cpp's own architecture, hyper-parameter and vocabulary checks without reading tensors.
// Results are cached per file content. Safe from any thread.
#pragma once

#include <string>

#include "xervo/library.h"

namespace xervo::library {

struct ArchitectureCheck {
  bool ok = false;
  std::string detail;  // "llama.cpp reads 'llama'", or why it cannot
};

ArchitectureCheck check_architecture(const LibraryModel& model);

}  // namespace xervo::library
