// The audit log: an append-only JSONL file of security-relevant events (admin actions, key changes,
// config reloads, authentication failures, refused models). Each record carries `prev`, the sha256 of
// the previous record's line, and `seq`, so an edited byte, a removed line or a cut-off tail is found
// by verify_audit_files() (`xervo audit verify`). A side file (PATH.head) holds the last seq and hash:
// the writer continues the chain from it, across rotations (PATH -> PATH.1 -> PATH.2 ...) and across
// processes (the server and `xervo keys` append under one advisory lock), and verify compares the end
// of the chain with it. Never a secret; prompt text only when configured. Thread-safe.
#pragma once

#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "xervo/access.h"
#include "xervo/error.h"

namespace xervo::server {

// The `prev` of the first record ever written.
inline constexpr std::string_view kAuditGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

class AuditLog {
 public:
  explicit AuditLog(AuditOptions options) : options_(std::move(options)) {}
  bool enabled() const { return options_.enabled && !options_.path.empty(); }
  const AuditOptions& options() const { return options_; }

  // Appends {seq, time, event, ...fields, prev}; `fields` must not hold seq, time, event or prev.
  // A failed write is logged (and returned), never thrown: auditing does not take the server down.
  Result<void> record(const std::string& event, nlohmann::json fields);

 private:
  AuditOptions options_;
  std::mutex mu_;  // one append at a time in this process; the file lock orders processes
};

struct AuditVerifyReport {
  bool ok = false;
  int64_t records = 0;
  std::vector<std::string> problems;  // "FILE:LINE: what", in file order
};

// Checks the chain through `files`, oldest first (rotated ones before the live file). With `head`
// (PATH.head), the last record must match it: a removed tail is caught too. The first record must
// follow the genesis hash unless `allow_cut_start` (the oldest rotated files were deleted).
AuditVerifyReport verify_audit_files(const std::vector<std::filesystem::path>& files,
                                     const std::filesystem::path& head, bool allow_cut_start);

// The files of the log at `path` in chain order: PATH.N ... PATH.1, PATH (those that exist).
std::vector<std::filesystem::path> audit_files(const std::filesystem::path& path);

}  // namespace xervo::server
