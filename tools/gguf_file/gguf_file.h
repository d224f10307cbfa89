// Writing GGUF files: RAII for ggml's gguf and ggml contexts, copying keys between GGUFs, and one
// writer that streams each tensor's rows (produced as f32 by the caller, converted here to f32,
// f16 or a quantized type) to a temporary file that is renamed into place, so a model never sits in
// memory whole and a half-written file is never visible. Thread-safe: no shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ggml.h"
#include "gguf.h"
#include "xervo/error.h"

namespace xervo::gguf_file {

struct GgufFree {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufFree>;
struct GgmlFree {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};
using GgmlPtr = std::unique_ptr<ggml_context, GgmlFree>;

// Copies key `id` of `src` (any type, string arrays included) into `dst`.
void copy_key(gguf_context* dst, const gguf_context* src, int64_t id);

// One tensor to write. `fill` writes rows [first_row, first_row + rows) of ne0 floats each into
// `out`; it is called with increasing first_row, so a generator may keep its own state.
struct TensorSource {
  std::string name;
  int64_t ne0 = 0;
  int64_t ne1 = 0;  // 0 for a vector
  ggml_type type = GGML_TYPE_F32;
  std::function<Result<void>(int64_t first_row, int64_t rows, float* out)> fill;
  int64_t rows() const { return ne1 > 0 ? ne1 : 1; }
};

// Adds the tensors to `header` (which holds the key-value pairs) and writes the file at `out`,
// replacing it atomically. invalid_input when a row length does not fit the type's block size,
// io_error when the file cannot be written (`what` names the file's role in the message); errors
// from `fill` pass through.
Result<void> write_gguf(gguf_context* header, const std::vector<TensorSource>& tensors,
                        const std::filesystem::path& out, std::string_view what);

}  // namespace xervo::gguf_file
