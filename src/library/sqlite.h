// RAII for SQLite: a connection and prepared statements with typed binds and columns. One Database
// belongs to one thread at a time (the library serializes access with its own mutex); several
// processes may open the same file (WAL, busy timeout).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "xervo/error.h"

namespace xervo::library {

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};

class Statement {
 public:
  Statement() = default;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}

  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, int64_t value);
  Statement& bind_null(int index);
  Statement& bind_optional(int index, const std::optional<int64_t>& value);
  // SQLITE_ROW -> true, SQLITE_DONE -> false, anything else -> error.
  Result<bool> step();
  // step() until done, calling `on_row` on each row; the statement is reset afterwards, error or not.
  Result<void> for_each_row(const std::function<void(Statement&)>& on_row);
  // for_each_row without a callback: for statements without rows.
  Result<void> run();
  void reset();

  std::string column_text(int col) const;
  int64_t column_int(int col) const;
  bool column_is_null(int col) const;
  sqlite3_stmt* get() const { return stmt_.get(); }

 private:
  std::unique_ptr<sqlite3_stmt, StmtFinalizer> stmt_;
};

// How a file is opened: read_only never writes (it may still create the WAL's -shm beside the file,
// as SQLite needs); immutable reads the file as it is, for folders nobody may write to.
enum class OpenMode { read_write, read_only, immutable };

class Database {
 public:
  static Result<Database> open(const std::filesystem::path& path, int busy_timeout_ms,
                               OpenMode mode = OpenMode::read_write);

  Result<void> exec(std::string_view sql);
  Result<Statement> prepare(std::string_view sql);
  int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_.get()); }
  int changes() const { return sqlite3_changes(db_.get()); }
  Error error(std::string_view what) const;
  sqlite3* get() const { return db_.get(); }

 private:
  std::unique_ptr<sqlite3, SqliteCloser> db_;
  std::filesystem::path path_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back when destroyed without commit().
class Transaction {
 public:
  explicit Transaction(Database& db) : db_(db) {}
  Result<void> begin() {
    auto r = db_.exec("BEGIN IMMEDIATE");
    active_ = r.ok();
    return r;
  }
  Result<void> commit() {
    active_ = false;
    return db_.exec("COMMIT");
  }
  ~Transaction() {
    if (active_) (void)db_.exec("ROLLBACK");
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

 private:
  Database& db_;
  bool active_ = false;
};

}  // namespace xervo::library
