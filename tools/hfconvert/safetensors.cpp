// The safetensors layout: u64 little-endian N, N bytes of JSON ({name: {dtype, shape,
// data_offsets: [begin, end]}, "__metadata__": {...}}), then the data; offsets are relative to the
// end of the header. Every number in the header is checked before it is used as an offset.
#include "safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "ggml.h"

namespace xervo::hfconvert {

struct SafetensorsFile::Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

namespace {

int dtype_size(std::string_view dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2") return 1;
  return 0;
}

bool pread_all(int fd, void* buf, size_t n, uint64_t offset) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t got = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got, n -= static_cast<size_t>(got), offset += static_cast<uint64_t>(got);
  }
  return true;
}

float bf16_to_f32(uint16_t v) {
  const uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// One header entry, checked: dtype known, shape of non-negative ints without overflow, offsets in
// order, inside the data section, and exactly as long as dtype and shape say.
Result<SafetensorsTensor> parse_entry(const std::string& name, const nlohmann::json& j, uint64_t data_start,
                                      uint64_t data_size) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::invalid_input, "tensor " + name + ": " + why);
  };
  if (!j.is_object()) return bad("header entry is not an object");
  SafetensorsTensor t;
  t.name = name;
  if (!j.contains("dtype") || !j["dtype"].is_string()) return bad("no dtype");
  t.dtype = j["dtype"].get<std::string>();
  const int esize = dtype_size(t.dtype);
  if (esize == 0) return bad("unknown dtype " + t.dtype);
  if (!j.contains("shape") || !j["shape"].is_array()) return bad("no shape");
  if (j["shape"].size() > 8) return bad("more than 8 dimensions");
  uint64_t numel = 1;
  for (const auto& d : j["shape"]) {
    if (!d.is_number_unsigned()) return bad("shape holds something other than a non-negative integer");
    const uint64_t n = d.get<uint64_t>();
    if (n > (1ull << 40) || (n && numel > (1ull << 40) / n)) return bad("shape too large");
    numel *= n;
    t.shape.push_back(static_cast<int64_t>(n));
  }
  const auto& off = j.contains("data_offsets") ? j["data_offsets"] : nlohmann::json();
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    return bad("data_offsets is not [begin, end]");
  const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
  if (b > e || e > data_size)
    return bad("data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + "] lie outside the " +
               std::to_string(data_size) + " bytes of data (truncated file?)");
  if (e - b != numel * static_cast<uint64_t>(esize))
    return bad("holds " + std::to_string(e - b) + " bytes, but " + t.dtype + " of this shape needs " +
               std::to_string(numel * static_cast<uint64_t>(esize)));
  t.begin = data_start + b;
  t.end = data_start + e;
  return t;
}

}  // namespace

int64_t SafetensorsTensor::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

Result<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string where = path.string();
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::invalid_input, where + " is not a valid safetensors file: " + why);
  };
  SafetensorsFile file;
  file.path_ = path;
  file.fd_ = std::make_shared<Fd>();
  file.fd_->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd_->fd < 0)
    return Error(ErrorCode::model_not_found, "cannot open " + where + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(file.fd_->fd, &st) != 0 || !S_ISREG(st.st_mode)) return bad("not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  unsigned char len_bytes[8];
  if (size < 8 || !pread_all(file.fd_->fd, len_bytes, 8, 0))
    return bad("shorter than its 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > kMaxSafetensorsHeader)
    return bad("header length " + std::to_string(header_len) + " exceeds the limit of " +
               std::to_string(kMaxSafetensorsHeader) + " bytes");
  if (header_len > size - 8)
    return bad("header length " + std::to_string(header_len) + " runs past the end of the " +
               std::to_string(size) + "-byte file (truncated?)");
  std::string header(header_len, '\0');
  if (!pread_all(file.fd_->fd, header.data(), header_len, 8)) return bad("cannot read the header");
  nlohmann::json j = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("the header is not a JSON object");
  const uint64_t data_start = 8 + header_len;
  for (auto& [name, entry] : j.items()) {
    if (name == "__metadata__") continue;
    auto t = parse_entry(name, entry, data_start, size - data_start);
    if (!t) return bad(t.error().message());
    file.tensors_.push_back(std::move(*t));
  }
  return file;
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

Result<void> SafetensorsFile::read_f32(const SafetensorsTensor& t, int64_t first, int64_t count,
                                       float* out) const {
  const int esize = dtype_size(t.dtype);
  if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16")
    return Error(ErrorCode::invalid_input,
                 "tensor " + t.name + " has dtype " + t.dtype + ", not a float type");
  if (first < 0 || count < 0 || first + count > t.numel())
    return Error(ErrorCode::invalid_input, "read outside tensor " + t.name);
  const uint64_t offset = t.begin + static_cast<uint64_t>(first) * esize;
  const size_t bytes = static_cast<size_t>(count) * esize;
  if (t.dtype == "F32") {
    if (!pread_all(fd_->fd, out, bytes, offset))
      return Error(ErrorCode::io_error, "short read of " + t.name + " in " + path_.string());
    return {};
  }
  std::vector<uint16_t> raw(static_cast<size_t>(count));
  if (!pread_all(fd_->fd, raw.data(), bytes, offset))
    return Error(ErrorCode::io_error, "short read of " + t.name + " in " + path_.string());
  if (t.dtype == "F16")
    ggml_fp16_to_fp32_row(reinterpret_cast<const ggml_fp16_t*>(raw.data()), out, count);
  else
    for (int64_t i = 0; i < count; ++i) out[i] = bf16_to_f32(raw[static_cast<size_t>(i)]);
  return {};
}

}  // namespace xervo::hfconvert
