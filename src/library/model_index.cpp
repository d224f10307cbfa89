#include "library/model_index.h"

#include <algorithm>
#include <cctype>

#include "library/files.h"
#include "library/model_record.h"

namespace xervo::library {
namespace fs = std::filesystem;

namespace {

constexpr const char* kColumns =
    "id, publisher, name, format, architecture, task, parameter_count, quantization, context_length, "
    "embedding_length, block_count, size_bytes, sha256, source_kind, source_path, hub_repo, hub_revision, "
    "hub_file, state, downloaded_bytes, error, tags, description, created_at, updated_at, file, conversion";

// Ordered migration steps: step i brings the schema from version i to i + 1. Never edit a step
// that has shipped; append a new one.
const std::vector<const char*>& migrations() {
  static const std::vector<const char*> steps = {
      // 1: models + full-text index kept in sync by triggers.
      R"sql(
      CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at INTEGER NOT NULL);
      CREATE TABLE models (
        rowid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        publisher TEXT NOT NULL,
        name TEXT NOT NULL,
        format TEXT NOT NULL DEFAULT 'gguf',
        architecture TEXT NOT NULL DEFAULT '',
        task TEXT NOT NULL DEFAULT '',
        parameter_count INTEGER NOT NULL DEFAULT 0,
        quantization TEXT NOT NULL DEFAULT '',
        context_length INTEGER NOT NULL DEFAULT 0,
        embedding_length INTEGER NOT NULL DEFAULT 0,
        block_count INTEGER NOT NULL DEFAULT 0,
        size_bytes INTEGER NOT NULL DEFAULT 0,
        sha256 TEXT NOT NULL DEFAULT '',
        source_kind TEXT NOT NULL DEFAULT '',
        source_path TEXT NOT NULL DEFAULT '',
        hub_repo TEXT NOT NULL DEFAULT '',
        hub_revision TEXT NOT NULL DEFAULT '',
        hub_file TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'ready',
        downloaded_bytes INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        file TEXT NOT NULL DEFAULT ''
      );
      CREATE INDEX models_sha256 ON models(sha256);
      CREATE INDEX models_name ON models(name, publisher);
      CREATE INDEX models_size ON models(size_bytes);
      CREATE INDEX models_updated ON models(updated_at);
      CREATE INDEX models_task ON models(task, name);
      CREATE INDEX models_hub ON models(hub_repo, hub_file);
      CREATE VIRTUAL TABLE models_fts USING fts5(
        name, publisher, architecture, tags, description,
        content='models', content_rowid='rowid', prefix='2 3');
      INSERT INTO models_fts(models_fts, rank) VALUES('rank', 'bm25(10.0, 3.0, 3.0, 2.0, 1.0)');
      CREATE TRIGGER models_ai AFTER INSERT ON models BEGIN
        INSERT INTO models_fts(rowid, name, publisher, architecture, tags, description)
        VALUES (new.rowid, new.name, new.publisher, new.architecture, new.tags, new.description);
      END;
      CREATE TRIGGER models_ad AFTER DELETE ON models BEGIN
        INSERT INTO models_fts(models_fts, rowid, name, publisher, architecture, tags, description)
        VALUES ('delete', old.rowid, old.name, old.publisher, old.architecture, old.tags, old.description);
      END;
      CREATE TRIGGER models_au AFTER UPDATE OF name, publisher, architecture, tags, description ON models BEGIN
        INSERT INTO models_fts(models_fts, rowid, name, publisher, architecture, tags, description)
        VALUES ('delete', old.rowid, old.name, old.publisher, old.architecture, old.tags, old.description);
        INSERT INTO models_fts(rowid, name, publisher, architecture, tags, description)
        VALUES (new.rowid, new.name, new.publisher, new.architecture, new.tags, new.description);
      END;
      )sql",
      // 2: filters on state and quantization without a table scan.
      R"sql(
      CREATE INDEX models_state ON models(state);
      CREATE INDEX models_quant ON models(quantization);
      CREATE INDEX models_arch ON models(architecture);
      )sql",
      // 3: prefix indexes for 2 to 8 characters, so a word being typed never merges term lists.
      R"sql(
      DROP TABLE models_fts;
      CREATE VIRTUAL TABLE models_fts USING fts5(
        name, publisher, architecture, tags, description,
        content='models', content_rowid='rowid', prefix='2 3 4 5 6 7 8');
      INSERT INTO models_fts(models_fts, rank) VALUES('rank', 'bm25(10.0, 3.0, 3.0, 2.0, 1.0)');
      INSERT INTO models_fts(models_fts) VALUES('rebuild');
      )sql",
      // 4: the size and name indexes carry every filter column, so filtered and sorted listings
      // read compact index entries instead of whole rows.
      R"sql(
      DROP INDEX models_size;
      DROP INDEX models_name;
      CREATE INDEX models_size ON models(size_bytes, state, task, quantization, architecture, name, publisher, updated_at);
      CREATE INDEX models_name ON models(name, publisher, state, task, quantization, architecture, size_bytes, updated_at);
      )sql",
      // 5: how a converted model was made (source files with their sha256, tool, type, date), as
      // JSON; '' for a model that is not a conversion. Rows of older indexes get it on re-import
      // or reindex (read from the GGUF and metadata.json).
      R"sql(
      ALTER TABLE models ADD COLUMN conversion TEXT NOT NULL DEFAULT '';
      )sql",
  };
  return steps;
}

std::string join_tags(const std::vector<std::string>& tags) {
  std::string out;
  for (const auto& t : tags) {
    if (t.empty()) continue;
    if (!out.empty()) out.push_back(' ');
    out += t;
  }
  return out;
}

std::vector<std::string> split_tags(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find(' ', i);
    if (j == std::string::npos) j = text.size();
    if (j > i) out.push_back(text.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string fts_query_from_text(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80) {
      word.push_back(static_cast<char>(std::tolower(u)));
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  // The word being typed (no separator after it yet) matches as a prefix; finished words exactly.
  bool last_is_prefix = !word.empty();
  if (!word.empty()) words.push_back(std::move(word));
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (!out.empty()) out += " AND ";
    out += "\"" + words[i] + "\"";
    if (i + 1 == words.size() && last_is_prefix) out += "*";
  }
  return out;
}

int ModelIndex::latest_schema_version() { return static_cast<int>(migrations().size()); }

namespace {

// SQLite's words for a file that is not (or no longer) an index.
Error with_reindex_hint(const Error& e, const fs::path& db_path) {
  const std::string& m = e.message();
  if (m.find("not a database") == std::string::npos && m.find("malformed") == std::string::npos) return e;
  return Error(e.code(), m + " (" + db_path.string() +
                             " is damaged: `xervo models reindex` rebuilds it from the model files)");
}

}  // namespace

Result<ModelIndex> ModelIndex::open(const fs::path& db_path, const fs::path& home, int busy_timeout_ms,
                                    IndexMode mode) {
  if (mode == IndexMode::read_only) return open_read_only(db_path, home, busy_timeout_ms);
  auto db = Database::open(db_path, busy_timeout_ms);
  if (!db) return db.error();
  ModelIndex index;
  index.db_ = std::move(*db);
  index.home_ = home;
  // WAL lets readers run while a writer commits; NORMAL sync is durable across process crashes. A
  // rebuilt file is renamed into place whole, so it keeps no WAL beside it.
  const char* pragmas = mode == IndexMode::rebuild
                            ? "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                            : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;";
  if (auto r = index.db_.exec(pragmas); !r) return with_reindex_hint(r.error(), db_path);
  if (auto r = index.migrate(); !r) return with_reindex_hint(r.error(), db_path);
  return index;
}

Result<ModelIndex> ModelIndex::open_read_only(const fs::path& db_path, const fs::path& home,
                                              int busy_timeout_ms) {
  // Nothing indexed yet: an empty index in memory answers every query.
  auto empty = [&]() -> Result<ModelIndex> {
    ModelIndex index;
    index.home_ = home;
    auto db = Database::open(":memory:", busy_timeout_ms);
    if (!db) return db.error();
    index.db_ = std::move(*db);
    if (auto r = index.migrate(); !r) return r.error();
    return index;
  };
  std::error_code ec;
  if (!fs::exists(db_path, ec)) return empty();
  ModelIndex index;
  index.home_ = home;
  // mode=ro reads a WAL index whose -shm SQLite may use; a folder nobody may write to needs
  // immutable instead (what a writer still holds in its WAL is then not seen).
  std::optional<Error> first_error;
  for (OpenMode open_mode : {OpenMode::read_only, OpenMode::immutable}) {
    auto db = Database::open(db_path, busy_timeout_ms, open_mode);
    if (!db) {
      first_error = first_error.value_or(db.error());
      continue;
    }
    index.db_ = std::move(*db);
    auto version = index.schema_version();
    if (!version) {
      first_error = first_error.value_or(version.error());
      continue;
    }
    if (*version > latest_schema_version())
      return Error(ErrorCode::config_invalid, "index schema version " + std::to_string(*version) +
                                                  " is newer than this xervo understands (" +
                                                  std::to_string(latest_schema_version()) +
                                                  "): upgrade xervo");
    if (*version == 0) return empty();  // created but never given tables
    return index;
  }
  return with_reindex_hint(*first_error, db_path);
}

Result<int> ModelIndex::schema_version() {
  auto stmt = db_.prepare("PRAGMA user_version");
  if (!stmt) return stmt.error();
  auto row = stmt->step();
  if (!row) return row.error();
  return static_cast<int>(stmt->column_int(0));
}

Result<void> ModelIndex::migrate() {
  auto current = schema_version();
  if (!current) return current.error();
  int latest = latest_schema_version();
  if (*current == latest) return {};
  if (*current > latest)
    return Error(ErrorCode::config_invalid, "index schema version " + std::to_string(*current) +
                                                " is newer than this xervo understands (" +
                                                std::to_string(latest) + "): upgrade xervo");
  Transaction tx(db_);
  if (auto r = tx.begin(); !r) return r;
  // Another process may have migrated while we waited for the write lock.
  current = schema_version();
  if (!current) return current.error();
  for (int v = *current; v < latest; ++v) {
    if (auto r = db_.exec(migrations()[static_cast<size_t>(v)]); !r)
      return Error(r.error().code(),
                   "migration to schema " + std::to_string(v + 1) + " failed: " + r.error().message());
    if (auto r =
            db_.exec("INSERT INTO schema_version(version, applied_at) VALUES(" + std::to_string(v + 1) +
                     ", " + std::to_string(unix_now()) + "); PRAGMA user_version = " + std::to_string(v + 1));
        !r)
      return r;
  }
  return tx.commit();
}

LibraryModel ModelIndex::row_to_model(const Statement& s) const {
  LibraryModel m;
  m.id = s.column_text(0);
  m.publisher = s.column_text(1);
  m.name = s.column_text(2);
  m.format = s.column_text(3);
  m.architecture = s.column_text(4);
  m.task = parse_model_task(s.column_text(5));
  m.parameter_count = static_cast<uint64_t>(s.column_int(6));
  m.quantization = s.column_text(7);
  m.context_length = static_cast<uint32_t>(s.column_int(8));
  m.embedding_length = static_cast<uint32_t>(s.column_int(9));
  m.block_count = static_cast<uint32_t>(s.column_int(10));
  m.size_bytes = static_cast<uint64_t>(s.column_int(11));
  m.sha256 = s.column_text(12);
  m.source_kind = s.column_text(13);
  m.source_path = s.column_text(14);
  m.hub_repo = s.column_text(15);
  m.hub_revision = s.column_text(16);
  m.hub_file = s.column_text(17);
  m.state = parse_library_model_state(s.column_text(18)).value_or(LibraryModelState::failed);
  m.downloaded_bytes = static_cast<uint64_t>(s.column_int(19));
  m.error = s.column_text(20);
  m.tags = split_tags(s.column_text(21));
  m.description = s.column_text(22);
  m.created_at = s.column_int(23);
  m.updated_at = s.column_int(24);
  fs::path file = s.column_text(25);
  m.file = file.empty() || file.is_absolute() ? file : home_ / file;
  if (std::string conversion = s.column_text(26); !conversion.empty())
    m.conversion = conversion_from_json(nlohmann::json::parse(conversion, nullptr, false));
  return m;
}

Result<std::vector<LibraryModel>> ModelIndex::query_models(Statement& stmt) {
  std::vector<LibraryModel> out;
  if (auto r = stmt.for_each_row([&](Statement& s) { out.push_back(row_to_model(s)); }); !r) return r.error();
  return out;
}

Result<Statement*> ModelIndex::cached(const std::string& sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) return &it->second;
  auto stmt = db_.prepare(sql);
  if (!stmt) return stmt.error();
  return &statements_.emplace(sql, std::move(*stmt)).first->second;
}

Result<void> ModelIndex::upsert(const LibraryModel& m) {
  auto stmt_ptr =
      cached(std::string("INSERT INTO models(") + kColumns +
             ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,"
             "?24,?25,?26,?27) ON CONFLICT(id) DO UPDATE SET publisher=excluded.publisher, "
             "name=excluded.name, format=excluded.format, architecture=excluded.architecture, "
             "task=excluded.task, parameter_count=excluded.parameter_count, "
             "quantization=excluded.quantization, context_length=excluded.context_length, "
             "embedding_length=excluded.embedding_length, block_count=excluded.block_count, "
             "size_bytes=excluded.size_bytes, sha256=excluded.sha256, source_kind=excluded.source_kind, "
             "source_path=excluded.source_path, hub_repo=excluded.hub_repo, "
             "hub_revision=excluded.hub_revision, hub_file=excluded.hub_file, state=excluded.state, "
             "downloaded_bytes=excluded.downloaded_bytes, error=excluded.error, tags=excluded.tags, "
             "description=excluded.description, updated_at=excluded.updated_at, file=excluded.file, "
             "conversion=excluded.conversion");
  if (!stmt_ptr) return stmt_ptr.error();
  Statement& stmt = **stmt_ptr;
  int64_t now = unix_now();
  std::string file = m.file.string();
  auto rel = m.file.lexically_relative(home_);
  if (!rel.empty() && *rel.begin() != "..") file = rel.string();
  stmt.bind(1, m.id)
      .bind(2, m.publisher)
      .bind(3, m.name)
      .bind(4, m.format)
      .bind(5, m.architecture)
      .bind(6, m.task ? to_string(*m.task) : "")
      .bind(7, static_cast<int64_t>(m.parameter_count))
      .bind(8, m.quantization)
      .bind(9, static_cast<int64_t>(m.context_length))
      .bind(10, static_cast<int64_t>(m.embedding_length))
      .bind(11, static_cast<int64_t>(m.block_count))
      .bind(12, static_cast<int64_t>(m.size_bytes))
      .bind(13, m.sha256)
      .bind(14, m.source_kind)
      .bind(15, m.source_path)
      .bind(16, m.hub_repo)
      .bind(17, m.hub_revision)
      .bind(18, m.hub_file)
      .bind(19, to_string(m.state))
      .bind(20, static_cast<int64_t>(m.downloaded_bytes))
      .bind(21, m.error)
      .bind(22, join_tags(m.tags))
      .bind(23, m.description)
      .bind(24, m.created_at ? m.created_at : now)
      .bind(25, m.updated_at ? m.updated_at : now)
      .bind(26, file)
      .bind(27, m.conversion ? conversion_json(*m.conversion).dump() : std::string());
  return stmt.run();
}

Result<std::optional<LibraryModel>> ModelIndex::get(std::string_view id) {
  auto stmt_ptr = cached(std::string("SELECT ") + kColumns + " FROM models WHERE id = ?1");
  if (!stmt_ptr) return stmt_ptr.error();
  Statement& stmt = **stmt_ptr;
  stmt.bind(1, id);
  auto rows = query_models(stmt);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<LibraryModel>{};
  return std::optional<LibraryModel>(std::move(rows->front()));
}

Result<bool> ModelIndex::id_exists(std::string_view id) {
  auto m = get(id);
  if (!m) return m.error();
  return m->has_value();
}

Result<std::optional<LibraryModel>> ModelIndex::find_by_sha256(std::string_view sha256) {
  auto stmt_ptr = cached(std::string("SELECT ") + kColumns +
                         " FROM models WHERE sha256 = ?1 AND state = 'ready' ORDER BY created_at LIMIT 1");
  if (!stmt_ptr) return stmt_ptr.error();
  Statement& stmt = **stmt_ptr;
  stmt.bind(1, sha256);
  auto rows = query_models(stmt);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<LibraryModel>{};
  return std::optional<LibraryModel>(std::move(rows->front()));
}

Result<std::optional<LibraryModel>> ModelIndex::find_by_hub(std::string_view repo, std::string_view file) {
  auto stmt_ptr =
      cached(std::string("SELECT ") + kColumns +
             " FROM models WHERE hub_repo = ?1 AND hub_file = ?2 ORDER BY updated_at DESC LIMIT 1");
  if (!stmt_ptr) return stmt_ptr.error();
  Statement& stmt = **stmt_ptr;
  stmt.bind(1, repo).bind(2, file);
  auto rows = query_models(stmt);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<LibraryModel>{};
  return std::optional<LibraryModel>(std::move(rows->front()));
}

Result<std::vector<LibraryModel>> ModelIndex::find_by_repo(std::string_view repo) {
  auto stmt_ptr =
      cached(std::string("SELECT ") + kColumns + " FROM models WHERE hub_repo = ?1 COLLATE NOCASE");
  if (!stmt_ptr) return stmt_ptr.error();
  Statement& stmt = **stmt_ptr;
  stmt.bind(1, repo);
  return query_models(stmt);
}

Result<std::vector<LibraryModel>> ModelIndex::all() {
  auto stmt_ptr = cached(std::string("SELECT ") + kColumns + " FROM models ORDER BY name, publisher");
  if (!stmt_ptr) return stmt_ptr.error();
  Statement& stmt = **stmt_ptr;
  return query_models(stmt);
}

// SQL pieces of one search: filters and their binds, numbered from 1.
struct SqlParts {
  std::vector<std::string> where;
  std::vector<std::pair<int, std::string>> text_binds;
  std::vector<std::pair<int, int64_t>> int_binds;
  int n = 0;
  void text(std::string clause, std::string value) {
    where.push_back(clause + "?" + std::to_string(++n));
    text_binds.emplace_back(n, std::move(value));
  }
  void number(std::string clause, int64_t value) {
    where.push_back(clause + "?" + std::to_string(++n));
    int_binds.emplace_back(n, value);
  }
  std::string where_sql() const {
    std::string out;
    for (size_t i = 0; i < where.size(); ++i) out += (i == 0 ? " WHERE " : " AND ") + where[i];
    return out;
  }
};

namespace {

// Above this many full-text hits, bm25 over every hit costs more than the 5 ms a search may take
// at 100,000 models; ranking then streams in tiers (below) instead.
constexpr int64_t kRankAllLimit = 2000;
// Above this many hits, a sorted text search walks the sort column's index and keeps rows in the
// hit set instead of sorting every hit.
constexpr int64_t kSortHitsLimit = 3000;

void add_filters(SqlParts& p, const LibraryQuery& q) {
  if (q.task) p.text("m.task = ", std::string(to_string(*q.task)));
  if (!q.architecture.empty()) p.text("m.architecture = ", q.architecture);
  if (!q.quantization.empty()) p.text("m.quantization = ", upper(q.quantization));
  if (q.min_size) p.number("m.size_bytes >= ", static_cast<int64_t>(*q.min_size));
  if (q.max_size) p.number("m.size_bytes <= ", static_cast<int64_t>(*q.max_size));
  if (q.state) p.text("m.state = ", std::string(to_string(*q.state)));
  if (!q.tag.empty()) p.text("(' ' || m.tags || ' ') LIKE ", "% " + q.tag + " %");
}

std::string order_by(LibrarySort sort) {
  switch (sort) {
    case LibrarySort::size:
      return " ORDER BY m.size_bytes DESC";
    case LibrarySort::recent:
      return " ORDER BY m.updated_at DESC";
    default:
      return " ORDER BY m.name, m.publisher";
  }
}

std::string sort_index(LibrarySort sort) {
  switch (sort) {
    case LibrarySort::size:
      return "models_size";
    case LibrarySort::recent:
      return "models_updated";
    default:
      return "models_name";
  }
}

}  // namespace

Result<std::vector<LibraryModel>> ModelIndex::run_search(const std::string& select_from, SqlParts& parts,
                                                         const std::string& order, int limit, int offset) {
  // Rows are chosen and ordered by rowid only, then read one by one: the sorter never carries
  // whole records (descriptions, paths) of rows that the LIMIT drops.
  std::string sql = "SELECT m.rowid" + select_from + parts.where_sql() + order;
  sql += " LIMIT ?" + std::to_string(++parts.n);
  parts.int_binds.emplace_back(parts.n, limit);
  sql += " OFFSET ?" + std::to_string(++parts.n);
  parts.int_binds.emplace_back(parts.n, offset);
  auto stmt_ptr = cached(sql);
  if (!stmt_ptr) return stmt_ptr.error();
  Statement& stmt = **stmt_ptr;
  for (auto& [i, v] : parts.text_binds) stmt.bind(i, v);
  for (auto& [i, v] : parts.int_binds) stmt.bind(i, v);
  std::vector<int64_t> rowids;
  if (auto r = stmt.for_each_row([&](Statement& s) { rowids.push_back(s.column_int(0)); }); !r)
    return r.error();
  auto fetch_ptr = cached(std::string("SELECT ") + kColumns + " FROM models WHERE rowid = ?1");
  if (!fetch_ptr) return fetch_ptr.error();
  Statement& fetch = **fetch_ptr;
  std::vector<LibraryModel> out;
  out.reserve(rowids.size());
  for (int64_t rowid : rowids) {
    fetch.bind(1, rowid);
    auto rows = query_models(fetch);
    if (!rows) return rows.error();
    for (auto& m : *rows) out.push_back(std::move(m));
  }
  return out;
}

Result<int64_t> ModelIndex::count_hits(const std::string& fts) {
  // Capped: only "few or many" matters, and counting stops early on a streamed match.
  auto stmt_ptr =
      cached("SELECT count(*) FROM (SELECT rowid FROM models_fts WHERE models_fts MATCH ?1 LIMIT " +
             std::to_string(std::max(kRankAllLimit, kSortHitsLimit) + 1) + ")");
  if (!stmt_ptr) return stmt_ptr.error();
  Statement& stmt = **stmt_ptr;
  stmt.bind(1, fts);
  auto row = stmt.step();
  int64_t n = row && *row ? stmt.column_int(0) : 0;
  stmt.reset();
  if (!row) return row.error();
  return n;
}

Result<std::vector<LibraryModel>> ModelIndex::search(const LibraryQuery& q) {
  std::string fts = fts_query_from_text(q.text);
  int limit = std::clamp(q.limit, 1, 10000);
  int offset = std::max(0, q.offset);
  if (fts.empty()) {
    SqlParts p;
    add_filters(p, q);
    return run_search(" FROM models m", p, order_by(q.sort), limit, offset);
  }
  auto hits = count_hits(fts);
  if (!hits) return hits.error();
  if (*hits == 0) return std::vector<LibraryModel>{};
  const std::string fts_join = " FROM models_fts f JOIN models m ON m.rowid = f.rowid";

  if (q.sort != LibrarySort::relevance) {
    SqlParts p;
    if (*hits <= kSortHitsLimit) {
      p.text("models_fts MATCH ", fts);
      add_filters(p, q);
      return run_search(fts_join, p, order_by(q.sort), limit, offset);
    }
    // Many hits: walk the sort index and keep rows of the hit set; stops after `limit` rows.
    p.text("m.rowid IN (SELECT rowid FROM models_fts WHERE models_fts MATCH ", fts);
    p.where.back() += ")";
    add_filters(p, q);
    return run_search(" FROM models m INDEXED BY " + sort_index(q.sort), p, order_by(q.sort), limit, offset);
  }
  if (*hits <= kRankAllLimit) {
    SqlParts p;
    p.text("models_fts MATCH ", fts);
    add_filters(p, q);
    return run_search(fts_join, p, " ORDER BY f.rank", limit, offset);
  }
  // Many hits: relevance in two tiers, each streamed newest first so LIMIT stops early: models
  // whose name matches every word, then models that match elsewhere (tags, description, ...).
  std::vector<LibraryModel> out;
  int wanted = offset + limit;
  const std::string tiers[2] = {"name : (" + fts + ")", "(" + fts + ") NOT (name : (" + fts + "))"};
  for (const auto& expr : tiers) {
    SqlParts p;
    p.text("models_fts MATCH ", expr);
    add_filters(p, q);
    auto rows = run_search(fts_join, p, " ORDER BY f.rowid DESC", wanted - static_cast<int>(out.size()), 0);
    if (!rows) return rows.error();
    for (auto& m : *rows) out.push_back(std::move(m));
    if (static_cast<int>(out.size()) >= wanted) break;
  }
  if (offset >= static_cast<int>(out.size())) return std::vector<LibraryModel>{};
  return std::vector<LibraryModel>(std::make_move_iterator(out.begin() + offset),
                                   std::make_move_iterator(out.end()));
}

Result<void> ModelIndex::remove(std::string_view id) {
  auto stmt_ptr = cached("DELETE FROM models WHERE id = ?1");
  if (!stmt_ptr) return stmt_ptr.error();
  Statement& stmt = **stmt_ptr;
  stmt.bind(1, id);
  return stmt.run();
}

Result<void> ModelIndex::set_progress(std::string_view id, uint64_t downloaded_bytes) {
  auto stmt_ptr = cached("UPDATE models SET downloaded_bytes = ?2, updated_at = ?3 WHERE id = ?1");
  if (!stmt_ptr) return stmt_ptr.error();
  Statement& stmt = **stmt_ptr;
  stmt.bind(1, id).bind(2, static_cast<int64_t>(downloaded_bytes)).bind(3, unix_now());
  return stmt.run();
}

Result<void> ModelIndex::set_state(std::string_view id, LibraryModelState state, std::string_view error) {
  auto stmt_ptr = cached("UPDATE models SET state = ?2, error = ?3, updated_at = ?4 WHERE id = ?1");
  if (!stmt_ptr) return stmt_ptr.error();
  Statement& stmt = **stmt_ptr;
  stmt.bind(1, id).bind(2, to_string(state)).bind(3, error).bind(4, unix_now());
  return stmt.run();
}

}  // namespace xervo::library
