// Notices that a file was replaced or rewritten (its inode, size or modification time differ from the
// last look), so a server can re-read its keys or JWKS on the next request without a restart or a
// watcher thread. One stat per look. Not thread-safe: its owner guards it.
#pragma once

#include <sys/stat.h>

#include <filesystem>

namespace xervo::server {

class WatchedFile {
 public:
  explicit WatchedFile(std::filesystem::path path) : path_(std::move(path)) {}

  const std::filesystem::path& path() const { return path_; }

  // True the first time, and whenever the file differs from the last look (a missing file is a state too).
  bool changed() {
    struct stat st {};
    Stamp now;
    if (::stat(path_.c_str(), &st) == 0)
      now = {true, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
    const bool differs = !seen_ || !(now == last_);
    seen_ = true;
    last_ = now;
    return differs;
  }
  // Forget the last look: the next changed() is true (a read that failed should be tried again).
  void reset() { seen_ = false; }

 private:
  struct Stamp {
    bool exists = false;
    ino_t inode = 0;
    off_t size = 0;
    time_t sec = 0;
    long nsec = 0;
    bool operator==(const Stamp&) const = default;
  };
  std::filesystem::path path_;
  bool seen_ = false;
  Stamp last_;
};

}  // namespace xervo::server
