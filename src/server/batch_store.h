// Where the Batch API keeps its state: uploaded files and batch results as files under
// `dir`/files (written atomically: temp name, fsync, rename) and everything else in `dir`/jobs.db
// (SQLite, WAL). A line's answer is stored with the batch's progress counters in one transaction
// and keyed by (batch, line), so a process killed at any point restarts with every answered line
// kept and none answered twice. Thread-safe: one mutex serializes the database.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "library/sqlite.h"
#include "xervo/error.h"

namespace xervo::server {

struct FileRecord {
  std::string id;     // "file-..."
  std::string owner;  // the API key's "key:NAME" that uploaded it, "" without authentication
  std::string filename;
  std::string purpose;  // "batch" (uploads), "batch_output" (results)
  int64_t bytes = 0;
  int64_t created_at = 0;  // unix seconds
};

struct BatchCounts {
  int64_t total = 0;
  int64_t completed = 0;  // lines answered with a 2xx (in the output file)
  int64_t failed = 0;     // lines in the error file
};

// Statuses as OpenAI names them.
inline constexpr const char* kBatchStatuses[] = {"validating", "failed",  "in_progress", "finalizing",
                                                 "completed",  "expired", "cancelling",  "cancelled"};

struct BatchRecord {
  std::string id;  // "batch_..."
  std::string owner;
  std::string endpoint;
  std::string input_file_id;
  std::string completion_window = "24h";
  std::string status = "validating";
  nlohmann::json metadata;  // null or an object of strings
  nlohmann::json errors;    // null or [{code, message, param, line}]: why the whole batch failed
  std::string output_file_id;
  std::string error_file_id;
  BatchCounts counts;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  // Set when the batch reached that status (unix seconds); absent before.
  std::optional<int64_t> in_progress_at, finalizing_at, completed_at, failed_at, expired_at, cancelling_at,
      cancelled_at;
};

// A page of a list, newest first; `after` is the id the previous page ended with.
struct PageQuery {
  std::string owner;  // only records of this owner ("" = records without an owner)
  std::string after;
  int64_t limit = 20;
};

class BatchStore {
 public:
  // Opens (creating) `dir`, its files/ folder and jobs.db.
  static Result<std::unique_ptr<BatchStore>> open(const std::filesystem::path& dir, size_t max_files);

  Result<FileRecord> add_file(const std::string& owner, const std::string& filename,
                              const std::string& purpose, std::string_view bytes);
  Result<std::optional<FileRecord>> file(const std::string& id);
  Result<std::vector<FileRecord>> files(const PageQuery& page, const std::string& purpose, bool* has_more);
  // Removes the record and its bytes; false when there was none.
  Result<bool> delete_file(const std::string& id);
  std::filesystem::path file_path(const std::string& id) const;

  // Stores a new batch (status validating); fills id, created_at and expires_at (24 h later).
  Result<BatchRecord> add_batch(BatchRecord batch);
  Result<std::optional<BatchRecord>> batch(const std::string& id);
  Result<std::vector<BatchRecord>> batches(const PageQuery& page, bool* has_more);
  // Batches whose work is not over (validating, in_progress, finalizing, cancelling), oldest first.
  Result<std::vector<BatchRecord>> unfinished();

  // validating -> in_progress with its line count (unless it is already cancelling).
  Result<void> start(const std::string& id, int64_t total);
  // Any non-final status -> failed, with the batch-level errors.
  Result<void> fail(const std::string& id, const nlohmann::json& errors);
  // validating/in_progress -> cancelling; the batch as it is now (nullopt: no such batch).
  Result<std::optional<BatchRecord>> request_cancel(const std::string& id);

  // Stores line `line`'s result line (ok: output file, else error file) and counts it, at most once:
  // false when that line already has a result.
  Result<bool> record_line(const std::string& id, int64_t line, bool ok, const std::string& result_line);
  Result<std::set<int64_t>> answered_lines(const std::string& id);

  // Writes the output and error files from the stored results (in line order), registers them and
  // sets `final_status` (completed, cancelled, expired) with its timestamp, in one transaction;
  // safe to repeat after a crash (file ids derive from the batch id).
  Result<BatchRecord> finalize(const std::string& id, const std::string& final_status);

 private:
  BatchStore(std::filesystem::path dir, library::Database db, size_t max_files)
      : dir_(std::move(dir)), db_(std::move(db)), max_files_(max_files) {}
  Result<std::optional<BatchRecord>> batch_locked(const std::string& id);
  Result<void> set_status_locked(const std::string& id, const std::string& status, const char* time_column);
  Result<std::string> write_result_file(const std::string& id, bool ok, std::string* file_id);

  const std::filesystem::path dir_;
  std::mutex mu_;
  library::Database db_;  // GUARDED_BY(mu_)
  const size_t max_files_;
};

int64_t unix_now();
// "file-" / "batch_" followed by 24 random characters.
std::string new_object_id(std::string_view prefix);
// Atomic write: temp name beside `path`, fsync, rename, fsync the folder.
Result<void> write_file_durably(const std::filesystem::path& path, std::string_view content);

}  // namespace xervo::server
