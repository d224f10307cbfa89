#include "server/batch_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <type_traits>

namespace xervo::server {
namespace {

namespace fs = std::filesystem;
using library::Database;
using library::Statement;
using library::Transaction;

constexpr const char* kSchema = R"sql(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS files(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
  filename TEXT NOT NULL, purpose TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS batches(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
  endpoint TEXT NOT NULL, input_file_id TEXT NOT NULL, completion_window TEXT NOT NULL,
  status TEXT NOT NULL, metadata TEXT, errors TEXT, output_file_id TEXT, error_file_id TEXT,
  total INTEGER NOT NULL DEFAULT 0, completed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, in_progress_at INTEGER, finalizing_at INTEGER,
  completed_at INTEGER, failed_at INTEGER, expired_at INTEGER, cancelling_at INTEGER, cancelled_at INTEGER);
CREATE TABLE IF NOT EXISTS results(
  batch_id TEXT NOT NULL, line INTEGER NOT NULL, ok INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY(batch_id, line));
)sql";

constexpr const char* kBatchColumns =
    "id, owner, endpoint, input_file_id, completion_window, status, metadata, errors, output_file_id, "
    "error_file_id, total, completed, failed, created_at, expires_at, in_progress_at, finalizing_at, "
    "completed_at, failed_at, expired_at, cancelling_at, cancelled_at";
constexpr const char* kFileColumns = "id, owner, filename, purpose, bytes, created_at";

// Inside the store, failures travel as Exception; each public call turns them back into a Result.
template <typename T>
T must(Result<T> r) {
  if (!r.ok()) throw Exception(r.error());
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}
template <typename F>
auto caught(F&& f) -> Result<decltype(f())> {
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      return {};
    } else {
      return f();
    }
  } catch (const Exception& e) {
    return e.error();
  }
}

std::optional<int64_t> optional_int(const Statement& s, int col) {
  if (s.column_is_null(col)) return std::nullopt;
  return s.column_int(col);
}

nlohmann::json json_column(const Statement& s, int col) {
  if (s.column_is_null(col)) return nullptr;
  return nlohmann::json::parse(s.column_text(col), nullptr, false);
}

BatchRecord read_batch(const Statement& s) {
  BatchRecord b;
  b.id = s.column_text(0);
  b.owner = s.column_text(1);
  b.endpoint = s.column_text(2);
  b.input_file_id = s.column_text(3);
  b.completion_window = s.column_text(4);
  b.status = s.column_text(5);
  b.metadata = json_column(s, 6);
  b.errors = json_column(s, 7);
  b.output_file_id = s.column_text(8);
  b.error_file_id = s.column_text(9);
  b.counts = {s.column_int(10), s.column_int(11), s.column_int(12)};
  b.created_at = s.column_int(13);
  b.expires_at = s.column_int(14);
  b.in_progress_at = optional_int(s, 15);
  b.finalizing_at = optional_int(s, 16);
  b.completed_at = optional_int(s, 17);
  b.failed_at = optional_int(s, 18);
  b.expired_at = optional_int(s, 19);
  b.cancelling_at = optional_int(s, 20);
  b.cancelled_at = optional_int(s, 21);
  return b;
}

FileRecord read_file_record(const Statement& s) {
  return {s.column_text(0), s.column_text(1), s.column_text(2),
          s.column_text(3), s.column_int(4),  s.column_int(5)};
}

Error io_failure(const std::string& what, const fs::path& path) {
  return Error(ErrorCode::io_error, what + " " + path.string() + ": " + std::strerror(errno));
}

bool is_final(const std::string& status) {
  return status == "completed" || status == "failed" || status == "expired" || status == "cancelled";
}

// A page newest first: rows before the `after` row in insertion order.
template <typename Row>
std::vector<Row> page_of(Database& db, const std::string& table, const char* columns, const PageQuery& page,
                         const std::string& extra_where, const std::string& extra_value, bool* has_more,
                         Row (*read)(const Statement&)) {
  std::string sql = std::string("SELECT ") + columns + " FROM " + table + " WHERE owner = ?1" + extra_where;
  if (!page.after.empty()) sql += " AND seq < (SELECT seq FROM " + table + " WHERE id = ?2)";
  sql += " ORDER BY seq DESC LIMIT ?3";
  auto stmt = must(db.prepare(sql));
  stmt.bind(1, page.owner).bind(2, page.after).bind(3, page.limit + 1);
  if (!extra_value.empty()) stmt.bind(4, extra_value);
  std::vector<Row> rows;
  must(stmt.for_each_row([&](Statement& s) { rows.push_back(read(s)); }));
  *has_more = static_cast<int64_t>(rows.size()) > page.limit;
  if (*has_more) rows.pop_back();
  return rows;
}

}  // namespace

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string new_object_id(std::string_view prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string id(prefix);
  for (int i = 0; i < 24; ++i) id += kChars[rng() % (sizeof kChars - 1)];
  return id;
}

Result<void> write_file_durably(const fs::path& path, std::string_view content) {
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_failure("cannot create", tmp);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto e = io_failure("cannot write", tmp);
      ::close(fd);
      return e;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto e = io_failure("cannot fsync", tmp);
    ::close(fd);
    return e;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_failure("cannot rename into", path);
  int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

Result<std::unique_ptr<BatchStore>> BatchStore::open(const fs::path& dir, size_t max_files) {
  std::error_code ec;
  fs::create_directories(dir / "files", ec);
  if (ec)
    return Error(ErrorCode::io_error, "cannot create the batch folder " + dir.string() + ": " + ec.message());
  auto db = Database::open(dir / "jobs.db", 5000);
  if (!db.ok()) return db.error();
  if (auto r = db->exec(kSchema); !r.ok()) return r.error();
  return std::unique_ptr<BatchStore>(new BatchStore(dir, std::move(*db), max_files));
}

fs::path BatchStore::file_path(const std::string& id) const { return dir_ / "files" / id; }

Result<FileRecord> BatchStore::add_file(const std::string& owner, const std::string& filename,
                                        const std::string& purpose, std::string_view bytes) {
  return caught([&] {
    std::lock_guard lock(mu_);
    auto count = must(db_.prepare("SELECT COUNT(*) FROM files"));
    must(count.step());
    if (static_cast<size_t>(count.column_int(0)) >= max_files_)
      throw Exception(Error(ErrorCode::invalid_input,
                            "the server already keeps " + std::to_string(max_files_) +
                                " files ([server] max_files); delete some with DELETE /v1/files/{id}"));
    count.reset();
    FileRecord f{
        new_object_id("file-"), owner, filename, purpose, static_cast<int64_t>(bytes.size()), unix_now()};
    // The bytes land first: a crash before the insert leaves an unlisted file, never a record without bytes.
    must(write_file_durably(file_path(f.id), bytes));
    auto insert = must(db_.prepare(
        "INSERT INTO files(id, owner, filename, purpose, bytes, created_at) VALUES(?,?,?,?,?,?)"));
    insert.bind(1, f.id)
        .bind(2, f.owner)
        .bind(3, f.filename)
        .bind(4, f.purpose)
        .bind(5, f.bytes)
        .bind(6, f.created_at);
    must(insert.run());
    return f;
  });
}

Result<std::optional<FileRecord>> BatchStore::file(const std::string& id) {
  return caught([&] {
    std::lock_guard lock(mu_);
    auto stmt = must(db_.prepare(std::string("SELECT ") + kFileColumns + " FROM files WHERE id = ?"));
    stmt.bind(1, id);
    std::optional<FileRecord> out;
    must(stmt.for_each_row([&](Statement& s) { out = read_file_record(s); }));
    return out;
  });
}

Result<std::vector<FileRecord>> BatchStore::files(const PageQuery& page, const std::string& purpose,
                                                  bool* has_more) {
  return caught([&] {
    std::lock_guard lock(mu_);
    return page_of<FileRecord>(db_, "files", kFileColumns, page, purpose.empty() ? "" : " AND purpose = ?4",
                               purpose, has_more, &read_file_record);
  });
}

Result<bool> BatchStore::delete_file(const std::string& id) {
  return caught([&] {
    std::lock_guard lock(mu_);
    auto stmt = must(db_.prepare("DELETE FROM files WHERE id = ?"));
    stmt.bind(1, id);
    must(stmt.run());
    bool existed = db_.changes() > 0;
    std::error_code ec;
    fs::remove(file_path(id),
               ec);  // after the record: a crash leaves bytes nobody lists, never a dangling record
    return existed;
  });
}

Result<BatchRecord> BatchStore::add_batch(BatchRecord b) {
  return caught([&] {
    std::lock_guard lock(mu_);
    b.id = new_object_id("batch_");
    b.status = "validating";
    b.created_at = unix_now();
    b.expires_at = b.created_at + 24 * 3600;
    auto stmt =
        must(db_.prepare("INSERT INTO batches(id, owner, endpoint, input_file_id, completion_window, status, "
                         "metadata, created_at, "
                         "expires_at) VALUES(?,?,?,?,?,?,?,?,?)"));
    stmt.bind(1, b.id)
        .bind(2, b.owner)
        .bind(3, b.endpoint)
        .bind(4, b.input_file_id)
        .bind(5, b.completion_window);
    stmt.bind(6, b.status).bind(8, b.created_at).bind(9, b.expires_at);
    if (b.metadata.is_null())
      stmt.bind_null(7);
    else
      stmt.bind(7, b.metadata.dump());
    must(stmt.run());
    return b;
  });
}

Result<std::optional<BatchRecord>> BatchStore::batch_locked(const std::string& id) {
  return caught([&] {
    auto stmt = must(db_.prepare(std::string("SELECT ") + kBatchColumns + " FROM batches WHERE id = ?"));
    stmt.bind(1, id);
    std::optional<BatchRecord> out;
    must(stmt.for_each_row([&](Statement& s) { out = read_batch(s); }));
    return out;
  });
}

Result<std::optional<BatchRecord>> BatchStore::batch(const std::string& id) {
  std::lock_guard lock(mu_);
  return batch_locked(id);
}

Result<std::vector<BatchRecord>> BatchStore::batches(const PageQuery& page, bool* has_more) {
  return caught([&] {
    std::lock_guard lock(mu_);
    return page_of<BatchRecord>(db_, "batches", kBatchColumns, page, "", "", has_more, &read_batch);
  });
}

Result<std::vector<BatchRecord>> BatchStore::unfinished() {
  return caught([&] {
    std::lock_guard lock(mu_);
    auto stmt = must(db_.prepare(std::string("SELECT ") + kBatchColumns +
                                 " FROM batches WHERE status IN ('validating', 'in_progress', 'finalizing', "
                                 "'cancelling') ORDER BY seq"));
    std::vector<BatchRecord> out;
    must(stmt.for_each_row([&](Statement& s) { out.push_back(read_batch(s)); }));
    return out;
  });
}

Result<void> BatchStore::set_status_locked(const std::string& id, const std::string& status,
                                           const char* time_column) {
  auto stmt = db_.prepare(std::string("UPDATE batches SET status = ?1, ") + time_column + " = COALESCE(" +
                          time_column + ", ?2) WHERE id = ?3");
  if (!stmt.ok()) return stmt.error();
  stmt->bind(1, status).bind(2, unix_now()).bind(3, id);
  return stmt->run();
}

Result<void> BatchStore::start(const std::string& id, int64_t total) {
  return caught([&] {
    std::lock_guard lock(mu_);
    auto stmt =
        must(db_.prepare("UPDATE batches SET total = ?1, status = CASE status WHEN 'validating' THEN "
                         "'in_progress' ELSE status END, "
                         "in_progress_at = COALESCE(in_progress_at, ?2) WHERE id = ?3"));
    stmt.bind(1, total).bind(2, unix_now()).bind(3, id);
    must(stmt.run());
  });
}

Result<void> BatchStore::fail(const std::string& id, const nlohmann::json& errors) {
  return caught([&] {
    std::lock_guard lock(mu_);
    auto stmt = must(db_.prepare("UPDATE batches SET errors = ?1 WHERE id = ?2"));
    stmt.bind(1, errors.dump()).bind(2, id);
    must(stmt.run());
    must(set_status_locked(id, "failed", "failed_at"));
  });
}

Result<std::optional<BatchRecord>> BatchStore::request_cancel(const std::string& id) {
  return caught([&] {
    std::lock_guard lock(mu_);
    auto b = must(batch_locked(id));
    if (!b) return b;
    if (b->status == "validating" || b->status == "in_progress")
      must(set_status_locked(id, "cancelling", "cancelling_at"));
    return must(batch_locked(id));
  });
}

Result<bool> BatchStore::record_line(const std::string& id, int64_t line, bool ok,
                                     const std::string& result_line) {
  return caught([&] {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    must(tx.begin());
    auto insert =
        must(db_.prepare("INSERT OR IGNORE INTO results(batch_id, line, ok, body) VALUES(?,?,?,?)"));
    insert.bind(1, id).bind(2, line).bind(3, int64_t{ok ? 1 : 0}).bind(4, result_line);
    must(insert.run());
    if (db_.changes() == 0) return false;
    auto count = must(db_.prepare(ok ? "UPDATE batches SET completed = completed + 1 WHERE id = ?"
                                     : "UPDATE batches SET failed = failed + 1 WHERE id = ?"));
    count.bind(1, id);
    must(count.run());
    must(tx.commit());
    return true;
  });
}

Result<std::set<int64_t>> BatchStore::answered_lines(const std::string& id) {
  return caught([&] {
    std::lock_guard lock(mu_);
    auto stmt = must(db_.prepare("SELECT line FROM results WHERE batch_id = ?"));
    stmt.bind(1, id);
    std::set<int64_t> out;
    must(stmt.for_each_row([&](Statement& s) { out.insert(s.column_int(0)); }));
    return out;
  });
}

// The results of one kind as a file under its deterministic id; "" (no file) when there are none.
Result<std::string> BatchStore::write_result_file(const std::string& id, bool ok, std::string* file_id) {
  return caught([&] {
    auto stmt = must(db_.prepare("SELECT body FROM results WHERE batch_id = ? AND ok = ? ORDER BY line"));
    stmt.bind(1, id).bind(2, int64_t{ok ? 1 : 0});
    std::string content;
    must(stmt.for_each_row([&](Statement& s) {
      content += s.column_text(0);
      content += '\n';
    }));
    if (content.empty()) return std::string();
    // "batch_X" -> "file-X-output" / "file-X-errors".
    *file_id = "file-" + id.substr(std::string_view("batch_").size()) + (ok ? "-output" : "-errors");
    must(write_file_durably(file_path(*file_id), content));
    return content;
  });
}

Result<BatchRecord> BatchStore::finalize(const std::string& id, const std::string& final_status) {
  return caught([&] {
    std::lock_guard lock(mu_);
    auto b = must(batch_locked(id));
    if (!b) throw Exception(Error(ErrorCode::internal, "batch " + id + " vanished while it ran"));
    if (is_final(b->status)) return *b;
    must(set_status_locked(id, b->status == "cancelling" ? "cancelling" : "finalizing", "finalizing_at"));
    Transaction tx(db_);
    must(tx.begin());
    for (bool ok : {true, false}) {
      std::string file_id;
      std::string content = must(write_result_file(id, ok, &file_id));
      if (file_id.empty()) continue;
      auto insert =
          must(db_.prepare("INSERT OR REPLACE INTO files(id, owner, filename, purpose, bytes, created_at) "
                           "VALUES(?,?,?,?,?,?)"));
      insert.bind(1, file_id).bind(2, b->owner).bind(3, id + (ok ? "_output.jsonl" : "_errors.jsonl"));
      insert.bind(4, std::string_view("batch_output")).bind(5, static_cast<int64_t>(content.size()));
      insert.bind(6, unix_now());
      must(insert.run());
      auto link = must(db_.prepare(ok ? "UPDATE batches SET output_file_id = ? WHERE id = ?"
                                      : "UPDATE batches SET error_file_id = ? WHERE id = ?"));
      link.bind(1, file_id).bind(2, id);
      must(link.run());
    }
    const char* column = final_status == "completed" ? "completed_at"
                         : final_status == "expired" ? "expired_at"
                                                     : "cancelled_at";
    must(set_status_locked(id, final_status, column));
    must(tx.commit());
    return *must(batch_locked(id));
  });
}

}  // namespace xervo::server
