#include "library/model_store.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "library/fault_points.h"
#include "library/files.h"
#include "library/model_file.h"
#include "library/model_record.h"
#include "library/overrides.h"
#include "library/placement_journal.h"
#include "library/verified_stamp.h"

namespace xervo::library {
namespace fs = std::filesystem;

Result<FileIdentity> identify(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error("cannot stat", path, errno);
  return FileIdentity{st.st_dev, st.st_ino, st.st_size,
                      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec};
}

ModelStore::ModelStore(LibraryOptions options, ModelIndex index)
    : options_(std::move(options)), layout_{options_.home}, index_(std::move(index)) {}

Result<void> ModelStore::require_writable(std::string_view what) const {
  if (!read_only()) return {};
  return Error(ErrorCode::io_error, "cannot " + std::string(what) + ": the library at " +
                                        layout_.home.string() +
                                        " is open read-only (the folder or its models.db is not writable)");
}

Result<ModelStore::CommitLock> ModelStore::lock_commits(std::stop_token stop) {
  if (auto w = require_writable("change the library"); !w) return w.error();
  // The mutex first: threads of this process queue on it instead of polling the lock file.
  std::unique_lock local(commit_mutex_);
  auto file = FileLock::acquire(layout_.commit_lock(), stop);
  if (!file) return file.error();
  return CommitLock(std::move(local), std::move(*file));
}

Result<std::string> ModelStore::allocate_name(const CommitLock&, const std::string& publisher,
                                              const std::string& name) {
  for (int n = 1; n < 10000; ++n) {
    std::string candidate = n == 1 ? name : name + "-" + std::to_string(n);
    auto taken = with_index([&](ModelIndex& index) { return index.id_exists(publisher + "/" + candidate); });
    if (!taken) return taken.error();
    bool file_there = false;
    for (auto ext : kModelFileExtensions) {
      std::error_code ec;
      fs::path file = layout_.model_dir(publisher, candidate) / (candidate + std::string(ext));
      file_there = file_there || fs::exists(fs::symlink_status(file, ec));
    }
    if (!*taken && !file_there) return candidate;
  }
  return Error(ErrorCode::internal, "no free name for " + publisher + "/" + name);
}

Result<ImportOutcome> ModelStore::commit(const StagedFile& staged) {
  // Reading the header is file I/O: before any lock.
  auto info = read_model_file(staged.file);
  if (!info) return info.error();
  auto held = lock_commits();
  if (!held) return held.error();
  return commit_locked(*held, staged, *info);
}

Result<LibraryModel> ModelStore::record(LibraryModel model, const GgufInfo& info, const StagedFile& s) {
  apply_gguf_facts(model, info, s.tags);
  // The first record of a conversion stands: the same bytes imported again were made earlier.
  if (model.conversion && model.conversion->converted_at == 0)
    model.conversion->converted_at = s.converted_at;
  if (model.conversion && model.conversion->checkpoint.empty())
    model.conversion->checkpoint = s.converted_from;
  model.updated_at = unix_now();
  fs::path dir = layout_.model_dir(model.publisher, model.name);
  if (auto r = write_file_atomic(dir / "metadata.json", model_metadata_json(model, dir).dump(2)); !r)
    return r.error();
  (void)write_verified_stamp(dir, model.file, model.sha256);
  auto with_overrides = apply_overrides(model, dir);
  if (!with_overrides) return with_overrides.error();
  if (auto r = with_index([&](ModelIndex& index) { return index.upsert(*with_overrides); }); !r)
    return r.error();
  return with_overrides;
}

void ModelStore::dispose_duplicate(const StagedFile& s, const LibraryModel& existing) {
  std::error_code ec;
  switch (s.kind) {
    case StagedFile::Kind::temp:
    case StagedFile::Kind::download:
      fs::remove(s.file, ec);
      break;
    case StagedFile::Kind::user_file:
      // A move whose bytes the library already owns: the library copy stands for the file. When
      // the existing record only references a file elsewhere, the user's file stays.
      if (is_within(layout_.models(), existing.file) && fs::is_regular_file(existing.file, ec))
        fs::remove(s.file, ec);
      break;
    case StagedFile::Kind::reference:
      break;
  }
}

namespace {

LibraryModel new_record(const StagedFile& s, const std::string& name) {
  LibraryModel model;
  model.id = s.publisher + "/" + name;
  model.publisher = s.publisher;
  model.name = name;
  model.sha256 = s.sha256;
  model.source_kind = s.source_kind;
  model.source_path = s.source_path;
  model.hub_repo = s.hub_repo;
  model.hub_revision = s.hub_revision;
  model.hub_file = s.hub_file;
  model.created_at = unix_now();
  return model;
}

}  // namespace

Result<std::optional<PlacementJournal>> ModelStore::place(const StagedFile& s, const LibraryModel& model) {
  if (s.kind == StagedFile::Kind::reference) return std::optional<PlacementJournal>();
  Placement placement{fs::absolute(s.file), model.file,
                      s.kind == StagedFile::Kind::temp ? UndoAction::discard : UndoAction::restore, model.id,
                      s.sha256};
  auto journal = PlacementJournal::begin(layout_.staging(), std::move(placement));
  if (!journal) return journal.error();
  faults::crash_point("import.journaled");
  // A download replaces an older file of its own model; anything else never replaces a file.
  Result<void> placed = {};
  if (s.kind != StagedFile::Kind::download)
    placed = rename_noreplace(s.file, model.file);
  else if (::rename(s.file.c_str(), model.file.c_str()) != 0)
    placed = Error(ErrorCode::io_error, "cannot move " + s.file.string() + " to " + model.file.string() +
                                            ": " + std::strerror(errno));
  if (!placed) {
    journal->abandon();
    return placed.error();
  }
  faults::crash_point("import.placed");
  if (s.kind == StagedFile::Kind::user_file) {
    auto now = identify(model.file);
    if (!now || !(*now == s.identity)) {
      auto undone = journal->undo();
      return Error(ErrorCode::invalid_input,
                   s.source_path + " changed while it was being imported; " +
                       (undone ? "it was put back, import it again" : undone.error().message()));
    }
  }
  (void)fsync_path(model.file.parent_path());
  return std::optional<PlacementJournal>(std::move(*journal));
}

Result<ImportOutcome> ModelStore::commit_locked(const CommitLock& held, const StagedFile& s,
                                                const GgufInfo& info) {
  ImportOutcome outcome;
  outcome.source = s.source_path;
  auto existing = with_index([&](ModelIndex& index) { return index.find_by_sha256(s.sha256); });
  if (!existing) return existing.error();
  if (existing->has_value() && (*existing)->id != s.forced_id) {
    // Same content again: one record. Canonical facts are refreshed, user overrides re-applied.
    auto refreshed = record(**existing, info, s);
    if (!refreshed) return refreshed.error();
    dispose_duplicate(s, **existing);
    outcome.already_present = true;
    outcome.model = std::move(*refreshed);
    return outcome;
  }
  std::string name;
  if (!s.forced_id.empty()) {
    name = s.forced_id.substr(s.forced_id.find('/') + 1);
  } else {
    auto free_name = allocate_name(held, s.publisher, s.name);
    if (!free_name) return free_name.error();
    name = *free_name;
  }
  LibraryModel model = new_record(s, name);
  fs::path dir = layout_.model_dir(s.publisher, name);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error(ErrorCode::io_error, "cannot create " + dir.string() + ": " + ec.message());
  model.file = s.kind == StagedFile::Kind::reference ? fs::absolute(s.file)
                                                     : dir / (name + model_file_extension(info.format));
  auto journal = place(s, model);
  if (!journal) return journal.error();
  auto recorded = record(std::move(model), info, s);
  if (!recorded) {
    if (*journal) (void)(*journal)->undo();
    return recorded.error();
  }
  faults::crash_point("import.recorded");
  if (*journal) (*journal)->finish();
  outcome.model = std::move(*recorded);
  return outcome;
}

Result<void> ModelStore::remove(const LibraryModel& model) {
  auto held = lock_commits();
  if (!held) return held.error();
  // The row goes first: a crash between the two steps leaves files without a row (reindex finds
  // them), never a row naming a half-deleted file.
  if (auto r = with_index([&](ModelIndex& index) { return index.remove(model.id); }); !r) return r;
  std::error_code ec;
  fs::path dir = layout_.model_dir(model.publisher, model.name);
  if (is_within(layout_.models(), dir)) fs::remove_all(dir, ec);
  if (ec)
    return Error(ErrorCode::io_error,
                 "removed '" + model.id + "' from the index but not " + dir.string() + ": " + ec.message());
  return {};
}

void ModelStore::recover() {
  if (read_only()) return;
  auto held = lock_commits();
  if (!held) {
    spdlog::warn("library recovery skipped: {}", held.error().to_string());
    return;
  }
  // Placements a dead process began: finished when its row is in, undone otherwise.
  auto problems = recover_placements(layout_.staging(), [&](const Placement& p) {
    auto r = row(p.id);
    return r && r->has_value() && (*r)->state == LibraryModelState::ready && (*r)->file == p.to &&
           (*r)->sha256 == p.sha256;
  });
  for (const auto& p : problems) spdlog::warn("library recovery: {}", p);
  // Temp files of dead processes are garbage: no index row and no journal names them.
  std::error_code ec;
  auto sweep = [](const fs::path& file) {
    long pid = temp_owner(file.filename().string());
    std::error_code rm;
    if (pid > 0 && !process_alive(pid)) fs::remove(file, rm);
  };
  for (auto it = fs::directory_iterator(layout_.staging(), ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    sweep(it->path());
  for (auto it = fs::recursive_directory_iterator(layout_.models(), ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) sweep(it->path());
  // A row left `downloading` by a process that is gone: nobody holds its lock file.
  LibraryQuery q;
  q.state = LibraryModelState::downloading;
  q.limit = 10000;
  auto rows = with_index([&](ModelIndex& index) { return index.search(q); });
  if (!rows) return;
  for (const auto& m : *rows) {
    auto lock = FileLock::try_acquire(m.file.string() + ".lock");
    if (!lock || !lock->has_value()) continue;
    std::error_code size_ec;
    uint64_t kept = fs::file_size(m.file.string() + ".incomplete", size_ec);
    std::string message = "download interrupted";
    if (!size_ec)
      message += "; kept " + std::to_string(kept) + " bytes in " + m.file.string() + ".incomplete";
    message += "; run `xervo models pull hf:" + m.hub_repo + "/" + m.hub_file + "` to resume";
    (void)with_index(
        [&](ModelIndex& index) { return index.set_state(m.id, LibraryModelState::failed, message); });
  }
}

}  // namespace xervo::library
