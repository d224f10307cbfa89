// Reads a safetensors file without trusting it: the 8-byte header length, the JSON header, each
// tensor's dtype, shape and byte range are checked against each other and against the file's size
// before any data is read. Data is read on demand with pread (a 90 MB checkpoint never sits in
// memory whole). A SafetensorsFile may be read from several threads at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"

namespace xervo::hfconvert {

// The header may not be larger than this (the safetensors format's own limit is 100 MB).
inline constexpr uint64_t kMaxSafetensorsHeader = 100ull << 20;

struct SafetensorsTensor {
  std::string name;
  std::string dtype;           // "F32", "F16", "BF16", "I64", ...
  std::vector<int64_t> shape;  // outermost first, as in PyTorch
  uint64_t begin = 0;          // absolute byte offsets in the file, begin <= end <= file size
  uint64_t end = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // invalid_input with the file name and what is wrong for a malformed file; model_not_found when
  // it cannot be opened.
  static Result<SafetensorsFile> open(const std::filesystem::path& path);

  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(std::string_view name) const;

  // Reads `count` consecutive elements starting at element `first` of a float tensor (F32, F16 or
  // BF16) as f32. invalid_input for another dtype or a range outside the tensor, io_error when
  // the read comes back short (the file changed under us).
  Result<void> read_f32(const SafetensorsTensor& t, int64_t first, int64_t count, float* out) const;

  const std::filesystem::path& path() const { return path_; }

 private:
  struct Fd;
  std::filesystem::path path_;
  std::shared_ptr<Fd> fd_;
  std::vector<SafetensorsTensor> tensors_;
};

}  // namespace xervo::hfconvert
