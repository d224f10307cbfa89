// Shared helpers of the library tests: a temporary folder and a library opened in it.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "xervo/library.h"

namespace xervo::testing {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static std::atomic<int> n{0};
    path = std::filesystem::temp_directory_path() /
           ("xervo-lib-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

inline std::shared_ptr<ModelLibrary> open_test_library(const std::filesystem::path& home,
                                                       const std::string& endpoint = "http://127.0.0.1:1") {
  LibraryOptions o;
  o.home = home;
  o.hub_endpoint = endpoint;
  o.connect_timeout_ms = 2000;
  o.idle_timeout_ms = 5000;
  auto lib = ModelLibrary::open(o);
  EXPECT_TRUE(lib.ok()) << (lib.ok() ? "" : lib.error().to_string());
  return lib.ok() ? *lib : nullptr;
}

}  // namespace xervo::testing
