// Small real GGUF files for the library tests, written with ggml's gguf API (no parser of ours).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace xervo::testing {

struct GgufSpec {
  std::string architecture = "llama";
  std::string name = "test model";
  int pooling_type = -1;    // <arch>.pooling_type when >= 0
  int causal = -1;          // <arch>.attention.causal when >= 0
  bool cls_head = false;    // adds cls.output.weight
  int file_type = 15;       // general.file_type (15 = Q4_K_M)
  uint32_t seed = 1;        // makes the content (and sha256) unique
  int64_t elements = 1024;  // floats in the one weight tensor
  std::vector<std::string> tags;
  std::string description;
  // xervo.conversion.* keys as the checkpoint converter writes them; none when the tool is empty.
  std::string conversion_tool;
  std::string conversion_type;
  std::vector<std::string> conversion_sources;  // "SHA256  relative/path" lines
};

// Writes the file (tensor data included); aborts the test on failure.
void write_test_gguf(const std::filesystem::path& path, const GgufSpec& spec);

}  // namespace xervo::testing
