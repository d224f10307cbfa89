// The model store under one home: the index behind its mutex, and commit(), the one place where a
// file becomes a library model. Thread-safety: the index mutex guards only index calls (short, no
// file I/O); committers (imports, pulls, removals, recovery) are serialized by the commit lock, a
// mutex plus a lock file, so file placement never holds up readers, in this process or another.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "library/file_lock.h"
#include "library/gguf_info.h"
#include "library/library_home.h"
#include "library/model_index.h"
#include "library/placement_journal.h"
#include "xervo/library.h"

namespace xervo::library {

// Identity of a file's content as the file system sees it: a user's file that changes between
// hashing and moving is noticed.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};
Result<FileIdentity> identify(const std::filesystem::path& path);

// A hashed file handed to commit().
struct StagedFile {
  enum class Kind {
    temp,       // a copy or link the library made in tmp/: deleted when not needed
    user_file,  // the user's own file (import --move on one file system): never deleted unless committed
    download,   // a verified .incomplete download: replaces an older file of the same model
    reference,  // stays where it is; the record points at it
  };
  Kind kind = Kind::temp;
  std::filesystem::path file;
  FileIdentity identity;  // user_file: as hashed
  std::string sha256;
  std::string publisher, name;  // already normalized
  std::string source_kind, source_path;
  std::string hub_repo, hub_revision, hub_file;
  std::vector<std::string> tags;
  std::string forced_id;  // reuse this id (a pull's downloading row)
  // For a file made by conversion: the checkpoint folder and the date (unix seconds), recorded
  // when the model's record has none yet (the rest of the conversion is read from the file).
  std::string converted_from;
  int64_t converted_at = 0;
};

class ModelStore {
 public:
  ModelStore(LibraryOptions options, ModelIndex index);

  const LibraryOptions& options() const { return options_; }
  const LibraryLayout& layout() const { return layout_; }
  bool read_only() const { return options_.read_only; }
  // io_error saying the home is read-only, for operations that write.
  Result<void> require_writable(std::string_view what) const;

  // Runs `fn(index)` under the index mutex. Keep `fn` to index calls.
  template <typename F>
  auto with_index(F&& fn) {
    std::lock_guard lock(index_mutex_);
    return fn(index_);
  }
  Result<std::optional<LibraryModel>> row(std::string_view id) {
    return with_index([&](ModelIndex& index) { return index.get(id); });
  }

  // Held while ids are chosen and files placed or removed: one committer at a time across threads
  // and processes. Readers never take it.
  class CommitLock {
   public:
    CommitLock(std::unique_lock<std::mutex> local, FileLock file)
        : local_(std::move(local)), file_(std::move(file)) {}

   private:
    std::unique_lock<std::mutex> local_;
    FileLock file_;
  };
  Result<CommitLock> lock_commits(std::stop_token stop = {});

  // The first free name "<name>", "<name>-2", ... under `publisher`: no row has the id and no
  // model file has the name (a file without a row may hold a user's bytes after a crash).
  Result<std::string> allocate_name(const CommitLock& held, const std::string& publisher,
                                    const std::string& name);

  // Places a staged file into models/<publisher>/<name>/ and records it. Same content already
  // present -> that record (refreshed, already_present = true), and the staged file is disposed of
  // as its kind says. A crash at any step is undone by recovery (placement_journal.h).
  Result<ImportOutcome> commit(const StagedFile& staged);

  // Removes the row, then the model's folder.
  Result<void> remove(const LibraryModel& model);

  // Settles what dead processes left: placement journals, temp files, downloads nobody runs.
  void recover();

 private:
  Result<ImportOutcome> commit_locked(const CommitLock& held, const StagedFile& staged, const GgufInfo& info);
  // Moves the staged file to model.file under a placement journal (none for a reference), which
  // the caller finishes once the row is in.
  Result<std::optional<PlacementJournal>> place(const StagedFile& staged, const LibraryModel& model);
  Result<LibraryModel> record(LibraryModel model, const GgufInfo& info, const StagedFile& staged);
  void dispose_duplicate(const StagedFile& staged, const LibraryModel& existing);

  LibraryOptions options_;
  LibraryLayout layout_;
  std::mutex index_mutex_;
  ModelIndex index_;  // GUARDED_BY(index_mutex_)
  std::mutex commit_mutex_;
};

}  // namespace xervo::library
