// The index of the library: one SQLite file (models.db, WAL) with a row per model and an FTS5
// table over names, publisher, architecture, tags and description. The schema is versioned
// (PRAGMA user_version plus a schema_version table) and migrated step by step on open.
// Not thread-safe: the owner (ModelLibrary) serializes calls; several processes may share the file.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "library/sqlite.h"
#include "xervo/library.h"

namespace xervo::library {

struct SqlParts;  // one search's filters and binds (model_index.cpp)

enum class IndexMode {
  read_write,  // create or migrate as needed (WAL)
  read_only,   // never writes: no migration; an index without tables reads as empty
  rebuild,     // a fresh file built by reindex: rollback journal, so it is one self-contained file
};

class ModelIndex {
 public:
  // Opens or creates the index, applies missing migrations in order inside one transaction.
  static Result<ModelIndex> open(const std::filesystem::path& db_path, const std::filesystem::path& home,
                                 int busy_timeout_ms, IndexMode mode = IndexMode::read_write);

  // The schema version this build writes (the last migration).
  static int latest_schema_version();
  Result<int> schema_version();

  // Inserts or replaces the row of model.id (timestamps: created_at kept, updated_at now).
  Result<void> upsert(const LibraryModel& model);
  Result<std::optional<LibraryModel>> get(std::string_view id);
  Result<std::optional<LibraryModel>> find_by_sha256(std::string_view sha256);
  Result<std::optional<LibraryModel>> find_by_hub(std::string_view repo, std::string_view file);
  // Every model pulled from (or imported out of a cache of) `repo`, compared without case.
  Result<std::vector<LibraryModel>> find_by_repo(std::string_view repo);
  Result<std::vector<LibraryModel>> search(const LibraryQuery& query);
  Result<std::vector<LibraryModel>> all();
  Result<bool> id_exists(std::string_view id);
  Result<void> remove(std::string_view id);
  Result<void> set_progress(std::string_view id, uint64_t downloaded_bytes);
  Result<void> set_state(std::string_view id, LibraryModelState state, std::string_view error);

  Database& db() { return db_; }
  // Lets SQLite refresh its planner statistics when they are stale (cheap; run before closing).
  void optimize() { (void)db_.exec("PRAGMA optimize"); }

 private:
  // Statements are prepared once per SQL text and reused (search builds a few dozen shapes).
  Result<Statement*> cached(const std::string& sql);
  std::map<std::string, Statement> statements_;
  static Result<ModelIndex> open_read_only(const std::filesystem::path& db_path,
                                           const std::filesystem::path& home, int busy_timeout_ms);
  Result<void> migrate();
  Result<std::vector<LibraryModel>> query_models(Statement& stmt);
  Result<std::vector<LibraryModel>> run_search(const std::string& select_from, SqlParts& parts,
                                               const std::string& order, int limit, int offset);
  Result<int64_t> count_hits(const std::string& fts);
  LibraryModel row_to_model(const Statement& stmt) const;

  Database db_;
  std::filesystem::path home_;
};

// "llama 8" -> "\"llama\" AND \"8\"*": every word quoted, so user input never reaches FTS5's query
// syntax; the last word is a prefix unless the text ends with a separator. Empty without words.
std::string fts_query_from_text(std::string_view text);

}  // namespace xervo::library
