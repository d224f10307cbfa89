// The ModelLibrary implementation shared by the files of src/library (index access, import, pull,
// mapping). Thread-safety: index access is serialized by `mutex_`; hashing, copying and network
// I/O happen outside it. Across processes, SQLite transactions and lock files do the same.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "library/model_index.h"
#include "xervo/library.h"

namespace xervo::library {

class HubClient;
struct ImportJob;

// What an import or a download hands to commit_file(): a verified file at a staging path.
struct StagedFile {
  std::filesystem::path staged;  // temp file inside home/tmp (renamed into place), or the file itself
  bool in_place = false;         // reference: the file stays where it is
  std::string sha256;
  std::string publisher, name;  // already normalized
  std::string source_kind, source_path;
  std::string hub_repo, hub_revision, hub_file;
  std::vector<std::string> tags;
  std::string forced_id;  // reuse this id (a pull's downloading row)
};

class LibraryImpl final : public ModelLibrary, public std::enable_shared_from_this<LibraryImpl> {
 public:
  LibraryImpl(LibraryOptions options, ModelIndex index);
  ~LibraryImpl() override;

  const LibraryOptions& options() const override { return options_; }
  Result<std::vector<LibraryModel>> search(const LibraryQuery& query) override;
  Result<LibraryModel> get(std::string_view id) override;
  Result<LibraryModel> set_overrides(std::string_view id, const nlohmann::json& overrides) override;
  Result<void> remove(std::string_view id) override;
  Result<std::vector<VerifyOutcome>> verify(std::string_view id) override;
  std::vector<ImportOutcome> import_paths(const std::vector<std::filesystem::path>& paths,
                                          const ImportOptions& options) override;
  Result<LibraryModel> pull(std::string_view ref, const PullProgressCallback& progress,
                            const std::atomic<bool>* cancel) override;
  Result<std::vector<HubModelInfo>> hub_search(std::string_view text, int limit) override;
  Result<std::vector<MappingSyncReport>> map_sync(std::string_view name) override;
  Result<std::vector<MappingStatusEntry>> map_status(std::string_view name) override;
  Result<LibraryModel> find(std::string_view model_id) override;

  // Layout.
  const std::filesystem::path& home() const { return options_.home; }
  std::filesystem::path models_dir() const { return options_.home / "models"; }
  std::filesystem::path staging_dir() const { return options_.home / "tmp"; }
  std::filesystem::path model_dir(const std::string& publisher, const std::string& name) const {
    return models_dir() / publisher / name;
  }

  // Moves a staged, hashed file into models/<publisher>/<name>/ and records it, in one index
  // transaction: same content already present -> that record (refreshed, already_present = true).
  Result<ImportOutcome> commit_file(const StagedFile& staged);

  // Runs `fn(index)` under the index mutex.
  template <typename F>
  auto with_index(F&& fn) {
    std::lock_guard lock(mutex_);
    return fn(index_);
  }

 private:
  Result<LibraryModel> apply_overrides(LibraryModel model) const;
  // Stages, hashes and commits scanned inputs, appending one outcome per job.
  void import_jobs(std::vector<ImportJob>& jobs, const ImportOptions& opts, std::vector<ImportOutcome>& out);
  // Removes temp files left by processes that died, marks their downloads interrupted.
  void recover();
  HubClient& hub();

  LibraryOptions options_;
  std::mutex mutex_;
  ModelIndex index_;
  std::mutex hub_mutex_;
  std::unique_ptr<HubClient> hub_;
};

// The canonical metadata.json of a model.
nlohmann::json model_metadata_json(const LibraryModel& model);

// verified.json in a model's folder: the file's inode, size and mtime when it was last hashed, so
// requirement checks need not re-hash an unchanged file. check_verified re-hashes when they differ.
Result<void> write_verified_stamp(const std::filesystem::path& dir, const std::filesystem::path& file,
                                  const std::string& sha256);
Result<bool> check_verified(const std::filesystem::path& dir, const LibraryModel& model);

}  // namespace xervo::library
