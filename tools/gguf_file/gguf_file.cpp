// The GGUF writer: header first (gguf_write_to_file_ptr with only_meta), then each tensor's data in
// chunks of whole rows, each chunk padded to the file's alignment at the tensor's end, then fsync
// and rename. The order of the data matches the order the tensors were added to the header.
#include "gguf_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

namespace xervo::gguf_file {
namespace {

struct FileClose {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileClose>;

Result<void> write_tensor_data(std::FILE* f, const TensorSource& t, size_t alignment) {
  // Chunks of about a million values keep memory small for the embedding matrices.
  const int64_t rows_per_chunk = std::max<int64_t>(1, (1 << 20) / t.ne0);
  std::vector<float> src;
  std::vector<uint8_t> dst;
  size_t written = 0;
  for (int64_t row = 0; row < t.rows(); row += rows_per_chunk) {
    const int64_t rows = std::min(rows_per_chunk, t.rows() - row);
    const size_t n = static_cast<size_t>(rows * t.ne0);
    src.resize(n);
    if (auto ok = t.fill(row, rows, src.data()); !ok) return ok;
    size_t bytes = 0;
    const void* data = src.data();
    if (t.type == GGML_TYPE_F32) {
      bytes = n * sizeof(float);
    } else if (t.type == GGML_TYPE_F16) {
      dst.resize(n * sizeof(ggml_fp16_t));
      ggml_fp32_to_fp16_row(src.data(), reinterpret_cast<ggml_fp16_t*>(dst.data()), static_cast<int64_t>(n));
      bytes = dst.size();
      data = dst.data();
    } else {
      dst.resize(ggml_row_size(t.type, t.ne0) * rows);
      bytes = ggml_quantize_chunk(t.type, src.data(), dst.data(), 0, rows, t.ne0, nullptr);
      data = dst.data();
    }
    if (std::fwrite(data, 1, bytes, f) != bytes) return Error(ErrorCode::io_error, "short write");
    written += bytes;
  }
  static const std::vector<uint8_t> zeros(64, 0);
  const size_t pad = (alignment - written % alignment) % alignment;
  if (pad > zeros.size() || std::fwrite(zeros.data(), 1, pad, f) != pad)
    return Error(ErrorCode::io_error, "short write of padding");
  return {};
}

}  // namespace

// Copies one key of any type; string arrays need the per-element API.
void copy_key(gguf_context* dst, const gguf_context* src, int64_t id) {
  const char* key = gguf_get_key(src, id);
  switch (gguf_get_kv_type(src, id)) {
    case GGUF_TYPE_UINT8:
      gguf_set_val_u8(dst, key, gguf_get_val_u8(src, id));
      break;
    case GGUF_TYPE_INT8:
      gguf_set_val_i8(dst, key, gguf_get_val_i8(src, id));
      break;
    case GGUF_TYPE_UINT16:
      gguf_set_val_u16(dst, key, gguf_get_val_u16(src, id));
      break;
    case GGUF_TYPE_INT16:
      gguf_set_val_i16(dst, key, gguf_get_val_i16(src, id));
      break;
    case GGUF_TYPE_UINT32:
      gguf_set_val_u32(dst, key, gguf_get_val_u32(src, id));
      break;
    case GGUF_TYPE_INT32:
      gguf_set_val_i32(dst, key, gguf_get_val_i32(src, id));
      break;
    case GGUF_TYPE_FLOAT32:
      gguf_set_val_f32(dst, key, gguf_get_val_f32(src, id));
      break;
    case GGUF_TYPE_UINT64:
      gguf_set_val_u64(dst, key, gguf_get_val_u64(src, id));
      break;
    case GGUF_TYPE_INT64:
      gguf_set_val_i64(dst, key, gguf_get_val_i64(src, id));
      break;
    case GGUF_TYPE_FLOAT64:
      gguf_set_val_f64(dst, key, gguf_get_val_f64(src, id));
      break;
    case GGUF_TYPE_BOOL:
      gguf_set_val_bool(dst, key, gguf_get_val_bool(src, id));
      break;
    case GGUF_TYPE_STRING:
      gguf_set_val_str(dst, key, gguf_get_val_str(src, id));
      break;
    case GGUF_TYPE_ARRAY: {
      const size_t n = gguf_get_arr_n(src, id);
      const auto type = gguf_get_arr_type(src, id);
      if (type == GGUF_TYPE_STRING) {
        std::vector<const char*> items(n);
        for (size_t i = 0; i < n; ++i) items[i] = gguf_get_arr_str(src, id, i);
        gguf_set_arr_str(dst, key, items.data(), n);
      } else {
        gguf_set_arr_data(dst, key, type, gguf_get_arr_data(src, id), n);
      }
      break;
    }
    default:
      break;  // GGUF_TYPE_COUNT: not a real type
  }
}

Result<void> write_gguf(gguf_context* header, const std::vector<TensorSource>& tensors,
                        const std::filesystem::path& out, std::string_view what) {
  // Tensor descriptions only (no_alloc): the data is streamed to the file below.
  ggml_init_params params{ggml_tensor_overhead() * (tensors.size() + 1), nullptr, /*no_alloc=*/true};
  GgmlPtr meta(ggml_init(params));
  if (!meta) return Error(ErrorCode::internal, "ggml_init failed");
  for (const auto& t : tensors) {
    if (t.ne0 <= 0 || t.ne1 < 0 || t.ne0 % ggml_blck_size(t.type) != 0)
      return Error(ErrorCode::invalid_input, "tensor " + t.name + ": rows of " + std::to_string(t.ne0) +
                                                 " values cannot be stored as " + ggml_type_name(t.type));
    ggml_tensor* tensor = t.ne1 > 0 ? ggml_new_tensor_2d(meta.get(), t.type, t.ne0, t.ne1)
                                    : ggml_new_tensor_1d(meta.get(), t.type, t.ne0);
    ggml_set_name(tensor, t.name.c_str());
    gguf_add_tensor(header, tensor);
  }
  const std::filesystem::path tmp =
      out.string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
  auto fail = [&](const Error& why) -> Result<void> {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    if (why.code() != ErrorCode::io_error) return why;
    return Error(ErrorCode::io_error,
                 "cannot write " + std::string(what) + " " + out.string() + ": " + why.message());
  };
  auto io = [](const std::string& m) { return Error(ErrorCode::io_error, m); };
  {
    FilePtr f(std::fopen(tmp.c_str(), "wb"));
    if (!f) return fail(io(std::strerror(errno)));
    if (!gguf_write_to_file_ptr(header, f.get(), /*only_meta=*/true))
      return fail(io("writing the header failed"));
    const size_t alignment = gguf_get_alignment(header);
    for (const auto& t : tensors)
      if (auto ok = write_tensor_data(f.get(), t, alignment); !ok) {
        if (ok.error().code() == ErrorCode::io_error) return fail(io(ok.error().message() + " (disk full?)"));
        return fail(ok.error());
      }
    if (std::fflush(f.get()) != 0 || ::fsync(::fileno(f.get())) != 0) return fail(io(std::strerror(errno)));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) return fail(io(ec.message()));
  return {};
}

}  // namespace xervo::gguf_file
