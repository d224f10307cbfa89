#include "library/sqlite.h"

namespace xervo::library {

Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_.get(), index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_.get(), index, value);
  return *this;
}

Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(stmt_.get(), index);
  return *this;
}

Statement& Statement::bind_optional(int index, const std::optional<int64_t>& value) {
  return value ? bind(index, *value) : bind_null(index);
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3* db = sqlite3_db_handle(stmt_.get());
  ErrorCode code = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? ErrorCode::unavailable : ErrorCode::io_error;
  return Error(
      code, std::string("library index: ") + sqlite3_errmsg(db) + " (in: " + sqlite3_sql(stmt_.get()) + ")");
}

Result<void> Statement::for_each_row(const std::function<void(Statement&)>& on_row) {
  for (;;) {
    auto r = step();
    if (!r) {
      reset();
      return r.error();
    }
    if (!*r) break;
    if (on_row) on_row(*this);
  }
  reset();
  return {};
}

Result<void> Statement::run() { return for_each_row(nullptr); }

void Statement::reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

std::string Statement::column_text(int col) const {
  auto* p = sqlite3_column_text(stmt_.get(), col);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), col)));
}

int64_t Statement::column_int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }

bool Statement::column_is_null(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }

namespace {

// "file:" URI of a path, with the characters URIs reserve escaped.
std::string file_uri(const std::filesystem::path& path, const char* query) {
  static const char* hex = "0123456789ABCDEF";
  std::string out = "file:";
  for (unsigned char c : std::filesystem::absolute(path).string()) {
    if (c == '%' || c == '?' || c == '#' || c < 0x20 || c >= 0x7f) {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + query;
}

}  // namespace

Result<Database> Database::open(const std::filesystem::path& path, int busy_timeout_ms, OpenMode mode) {
  sqlite3* raw = nullptr;
  int rc = SQLITE_OK;
  if (mode == OpenMode::read_write) {
    rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                         nullptr);
  } else {
    std::string uri = file_uri(path, mode == OpenMode::immutable ? "?immutable=1" : "?mode=ro");
    rc = sqlite3_open_v2(uri.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                         nullptr);
  }
  Database db;
  db.db_.reset(raw);
  db.path_ = path;
  if (rc != SQLITE_OK)
    return Error(ErrorCode::io_error,
                 "cannot open index " + path.string() + ": " +
                     (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)) +
                     (mode == OpenMode::read_write ? " (check that the folder exists and is writable)" : ""));
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Result<void> Database::exec(std::string_view sql) {
  std::string text(sql);
  char* msg = nullptr;
  int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &msg);
  if (rc == SQLITE_OK) return {};
  std::string detail = msg ? msg : sqlite3_errstr(rc);
  sqlite3_free(msg);
  ErrorCode code = ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) ? ErrorCode::unavailable
                                                                                : ErrorCode::io_error;
  return Error(code, "index " + path_.string() + ": " + detail);
}

Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                              &stmt, nullptr);
  if (rc != SQLITE_OK) return error("prepare");
  return Statement(stmt);
}

Error Database::error(std::string_view what) const {
  return Error(ErrorCode::io_error,
               "index " + path_.string() + ": " + std::string(what) + ": " + sqlite3_errmsg(db_.get()));
}

}  // namespace xervo::library
