#include "library/files.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <vector>

namespace xervo::library {
namespace fs = std::filesystem;

Error errno_error(std::string_view what, const fs::path& path, int err) {
  return Error(ErrorCode::io_error, std::string(what) + " " + path.string() + ": " + std::strerror(err));
}

namespace {

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

Error errno_error(std::string_view what, const fs::path& path) {
  return library::errno_error(what, path, errno);
}

Result<void> write_all(int fd, const char* data, size_t size, const fs::path& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("cannot write", path);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }

void Sha256::update(const void* data, size_t size) { EVP_DigestUpdate(ctx_.get(), data, size); }

std::string Sha256::hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_.get(), digest, &len);
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(digits[digest[i] >> 4]);
    out.push_back(digits[digest[i] & 15]);
  }
  return out;
}

namespace {

// Reads `fd` to its end, hashing every byte and handing each chunk to `sink` when there is one.
Result<std::string> read_and_hash(int fd, const fs::path& path,
                                  const std::function<Result<void>(const char*, size_t)>& sink) {
  Sha256 hash;
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("cannot read", path);
    }
    if (n == 0) break;
    hash.update(buf.data(), static_cast<size_t>(n));
    if (sink)
      if (auto r = sink(buf.data(), static_cast<size_t>(n)); !r) return r.error();
  }
  return hash.hex();
}

}  // namespace

Result<std::string> sha256_file(const fs::path& path) {
  Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) return errno_error("cannot open", path);
  return read_and_hash(in.fd, path, nullptr);
}

fs::path temp_sibling(const fs::path& path, std::string_view suffix) {
  static std::atomic<uint64_t> counter{0};
  return fs::path(path.string() + "." + std::to_string(::getpid()) + "." + std::to_string(counter++) +
                  std::string(suffix));
}

long temp_owner(std::string_view file, std::string_view suffix) {
  if (file.size() <= suffix.size() || !file.ends_with(suffix)) return -1;
  std::string_view stem = file.substr(0, file.size() - suffix.size());
  auto dot2 = stem.rfind('.');
  if (dot2 == std::string_view::npos || dot2 == 0) return -1;
  auto dot1 = stem.rfind('.', dot2 - 1);
  if (dot1 == std::string_view::npos) return -1;
  std::string_view pid = stem.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view counter = stem.substr(dot2 + 1);
  auto digits = [](std::string_view s) {
    return !s.empty() && s.size() < 19 && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (!digits(pid) || !digits(counter)) return -1;
  return std::stol(std::string(pid));
}

bool process_alive(long pid) {
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

Result<void> rename_noreplace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return {};
  int err = errno;
  if (err != EINVAL && err != ENOSYS && err != ENOTSUP)
    return Error(ErrorCode::io_error,
                 "cannot move " + from.string() + " to " + to.string() + ": " + std::strerror(err));
  // No RENAME_NOREPLACE here: link() refuses an existing name just as well.
  if (::link(from.c_str(), to.c_str()) != 0)
    return Error(ErrorCode::io_error,
                 "cannot move " + from.string() + " to " + to.string() + ": " + std::strerror(errno));
  if (::unlink(from.c_str()) != 0) return errno_error("cannot remove the old name", from, errno);
  return {};
}

Result<void> fsync_path(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) return errno_error("cannot open", path);
  if (::fsync(fd.fd) != 0 && errno != EINVAL) return errno_error("cannot fsync", path);
  return {};
}

Result<void> write_file_atomic(const fs::path& path, std::string_view content) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec)
    return Error(ErrorCode::io_error, "cannot create " + path.parent_path().string() + ": " + ec.message());
  fs::path tmp = temp_sibling(path);
  {
    Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (out.fd < 0) return errno_error("cannot create", tmp);
    if (auto r = write_all(out.fd, content.data(), content.size(), tmp); !r) {
      fs::remove(tmp, ec);
      return r;
    }
    if (::fsync(out.fd) != 0) {
      fs::remove(tmp, ec);
      return errno_error("cannot fsync", tmp);
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = errno_error("cannot rename to", path);
    fs::remove(tmp, ec);
    return err;
  }
  return fsync_path(path.parent_path());
}

Result<std::string> read_file(const fs::path& path) {
  Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) return errno_error("cannot open", path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(in.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("cannot read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::string> copy_and_hash(const fs::path& from, const fs::path& to) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) return errno_error("cannot open", from);
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (out.fd < 0) return errno_error("cannot create", to);
  auto hash = read_and_hash(in.fd, from,
                            [&](const char* data, size_t size) { return write_all(out.fd, data, size, to); });
  if (!hash) return hash.error();
  if (::fsync(out.fd) != 0) return errno_error("cannot fsync", to);
  return hash;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string normalize_name(std::string_view text) {
  std::string out;
  bool dash = false;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      out.push_back(static_cast<char>(std::tolower(u)));
      dash = false;
    } else if (c == '.' || c == '_' || c == '-') {
      out.push_back(c);
      dash = false;
    } else if (!dash && !out.empty()) {
      out.push_back('-');
      dash = true;
    }
  }
  while (!out.empty() && (out.front() == '.' || out.front() == '-')) out.erase(out.begin());
  while (!out.empty() && (out.back() == '-' || out.back() == '.')) out.pop_back();
  if (out.size() > 120) out.resize(120);
  if (out.empty()) out = "model";
  return out;
}

bool is_safe_component(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.size() > 255) return false;
  for (char c : name) {
    if (c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

bool is_within(const fs::path& root, const fs::path& path) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(root, ec);
  if (ec) return false;
  fs::path p = fs::weakly_canonical(path, ec);
  if (ec) return false;
  auto rel = p.lexically_relative(r);
  if (rel.empty()) return false;
  auto first = *rel.begin();
  return first != ".." && !rel.is_absolute();
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace xervo::library
