// File helpers for the library: atomic writes (temp name, fsync, rename), hashing while copying,
// path safety checks. Stateless; safe from any thread.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "xervo/error.h"

namespace xervo::library {

// Incremental SHA-256 (OpenSSL EVP), RAII.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::string hex();  // finishes; call once

 private:
  struct Free {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

Result<std::string> sha256_file(const std::filesystem::path& path);

// Writes `content` to `path` atomically: temp file in the same folder, fsync, rename, fsync folder.
Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view content);
Result<std::string> read_file(const std::filesystem::path& path);

// Copies `from` to `to` (a temp name the caller renames) hashing on the way; fsyncs `to`.
Result<std::string> copy_and_hash(const std::filesystem::path& from, const std::filesystem::path& to);

// fsync of a file or folder by path.
Result<void> fsync_path(const std::filesystem::path& path);

// ASCII lowercase.
std::string lowercase(std::string_view text);
// Lowercase, [a-z0-9._-] only, no leading dots, never empty ("Llama-3 8B!" -> "llama-3-8b").
std::string normalize_name(std::string_view text);
// True when `name` is one safe path component (no '/', '\\', "..", absolute, control characters).
bool is_safe_component(std::string_view name);
// True when `path` (made absolute, symlinks resolved) lies inside `root`.
bool is_within(const std::filesystem::path& root, const std::filesystem::path& path);

// A unique temporary sibling name: "<path>.<pid>.<counter><suffix>" (".tmp", ".journal").
std::filesystem::path temp_sibling(const std::filesystem::path& path, std::string_view suffix = ".tmp");
// The pid in a file name that temp_sibling made with `suffix`, or -1.
long temp_owner(std::string_view file_name, std::string_view suffix = ".tmp");
// Whether a process with this pid exists (it may belong to another user).
bool process_alive(long pid);

// Renames `from` to `to` unless `to` exists (EEXIST then, naming both): a placement never replaces
// a file. Falls back to link + unlink on file systems without RENAME_NOREPLACE; a crash between
// the two leaves both names of the same file, never none.
Result<void> rename_noreplace(const std::filesystem::path& from, const std::filesystem::path& to);

// io_error "<what> <path>: <strerror(err)>".
Error errno_error(std::string_view what, const std::filesystem::path& path, int err);

int64_t unix_now();

}  // namespace xervo::library
