#include "library/verified_stamp.h"

#include <sys/stat.h>

#include "library/files.h"

namespace xervo::library {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json file_stamp(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return nullptr;
  return {{"size", static_cast<uint64_t>(st.st_size)},
          {"inode", static_cast<uint64_t>(st.st_ino)},
          {"mtime_ns", static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec}};
}

}  // namespace

Result<void> write_verified_stamp(const fs::path& dir, const fs::path& file, const std::string& sha256) {
  json stamp = file_stamp(file);
  if (stamp.is_null()) return Error(ErrorCode::io_error, "cannot stat " + file.string());
  stamp["sha256"] = sha256;
  stamp["verified_at"] = unix_now();
  return write_file_atomic(dir / "verified.json", stamp.dump());
}

std::string stamped_sha256(const fs::path& dir, const fs::path& file) {
  json now = file_stamp(file);
  if (now.is_null()) return {};
  auto text = read_file(dir / "verified.json");
  if (!text) return {};
  auto stamp = json::parse(*text, nullptr, false);
  // Same inode, size and mtime as when last hashed: the bytes are the hashed ones.
  if (!stamp.is_object() || !stamp.contains("sha256") || !stamp["sha256"].is_string() ||
      stamp.value("size", json()) != now["size"] || stamp.value("inode", json()) != now["inode"] ||
      stamp.value("mtime_ns", json()) != now["mtime_ns"])
    return {};
  return stamp["sha256"].get<std::string>();
}

Result<bool> check_verified(const fs::path& dir, const LibraryModel& model, bool may_write) {
  std::error_code ec;
  if (!fs::exists(model.file, ec)) return false;
  if (!model.sha256.empty() && stamped_sha256(dir, model.file) == model.sha256) return true;
  auto sha = sha256_file(model.file);
  if (!sha) return sha.error();
  if (*sha != model.sha256) return false;
  if (may_write) (void)write_verified_stamp(dir, model.file, *sha);
  return true;
}

}  // namespace xervo::library
