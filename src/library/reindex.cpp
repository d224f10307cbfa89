#include "library/reindex.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <variant>

#include "core/log.h"
#include "library/file_lock.h"
#include "library/files.h"
#include "library/model_file.h"
#include "library/model_index.h"
#include "library/model_record.h"
#include "library/overrides.h"
#include "library/verified_stamp.h"

namespace xervo::library {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Each model folder: (folder, publisher, name), in name order.
template <typename F>
void for_each_model_folder(const LibraryLayout& layout, F&& fn) {
  std::error_code ec;
  std::vector<fs::path> publishers;
  for (auto it = fs::directory_iterator(layout.models(), ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    if (it->is_directory(ec)) publishers.push_back(it->path());
  std::sort(publishers.begin(), publishers.end());
  for (const auto& p : publishers) {
    std::vector<fs::path> names;
    for (auto it = fs::directory_iterator(p, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      if (it->is_directory(ec)) names.push_back(it->path());
    std::sort(names.begin(), names.end());
    for (const auto& n : names) fn(n, p.filename().string(), n.filename().string());
  }
}

json read_metadata(const fs::path& dir) {
  auto text = read_file(dir / "metadata.json");
  if (!text) return json::object();
  auto j = json::parse(*text, nullptr, false);
  return j.is_object() ? j : json::object();
}

std::string text_of(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

// The model file of a folder: its canonical file, else the reference metadata.json names.
std::optional<fs::path> model_file(const fs::path& dir, const std::string& name, const json& meta) {
  std::error_code ec;
  for (auto ext : kModelFileExtensions)
    if (fs::path canonical = dir / (name + std::string(ext)); fs::is_regular_file(canonical, ec))
      return canonical;
  for (std::string path :
       {text_of(meta, "external_file"), meta.contains("source") && meta["source"].is_object()
                                            ? text_of(meta["source"], "path")
                                            : std::string()}) {
    if (path.empty()) continue;
    fs::path real = fs::canonical(path, ec);
    if (!ec && fs::is_regular_file(real, ec)) return real;
  }
  return std::nullopt;
}

using FolderResult = std::variant<LibraryModel, std::string>;  // the row, or why there is none

FolderResult index_folder(const fs::path& dir, const std::string& publisher, const std::string& name) {
  if (normalize_name(publisher) != publisher || normalize_name(name) != name)
    return std::string("not a library folder name");
  json meta = read_metadata(dir);
  auto file = model_file(dir, name, meta);
  std::error_code ec;
  if (!file)
    return std::string(fs::exists(dir / (name + ".gguf.incomplete"), ec) ||
                               fs::exists(dir / (name + ".bin.incomplete"), ec)
                           ? "interrupted download (pull it again to resume)"
                           : "no model file");
  auto info = read_model_file(*file);
  if (!info) return info.error().message();
  std::string sha = stamped_sha256(dir, *file);
  if (sha.empty()) {
    auto hashed = sha256_file(*file);
    if (!hashed) return hashed.error().message();
    sha = *hashed;
    (void)write_verified_stamp(dir, *file, sha);
  }
  LibraryModel m;
  m.id = publisher + "/" + name;
  m.publisher = publisher;
  m.name = name;
  m.sha256 = sha;
  m.file = *file;
  if (meta.contains("source") && meta["source"].is_object()) {
    const json& s = meta["source"];
    m.source_kind = text_of(s, "kind");
    m.source_path = text_of(s, "path");
    m.hub_repo = text_of(s, "hub_repo");
    m.hub_revision = text_of(s, "hub_revision");
    m.hub_file = text_of(s, "hub_file");
  }
  m.created_at = meta.contains("created_at") && meta["created_at"].is_number_integer()
                     ? meta["created_at"].get<int64_t>()
                     : unix_now();
  // The conversion's date and checkpoint are the library's own record (metadata.json); the rest
  // is read from the file again by apply_gguf_facts.
  if (meta.contains("conversion")) m.conversion = conversion_from_json(meta["conversion"]);
  std::vector<std::string> tags;
  if (meta.contains("tags") && meta["tags"].is_array())
    for (const auto& t : meta["tags"])
      if (t.is_string()) tags.push_back(normalize_name(t.get<std::string>()));
  apply_gguf_facts(m, *info, tags);
  auto with_overrides = apply_overrides(m, dir);
  if (!with_overrides) return with_overrides.error().message();
  return *with_overrides;
}

}  // namespace

int count_model_folders(const LibraryLayout& layout) {
  int n = 0;
  for_each_model_folder(layout, [&](const fs::path& dir, const std::string&, const std::string& name) {
    std::error_code ec;
    if (fs::exists(dir / (name + ".gguf"), ec) || fs::exists(dir / (name + ".bin"), ec) ||
        fs::exists(dir / "metadata.json", ec))
      ++n;
  });
  return n;
}

Result<ReindexReport> rebuild_index(const LibraryOptions& options) {
  LibraryLayout layout{options.home};
  if (::access(layout.home.c_str(), W_OK) != 0)
    return Error(ErrorCode::io_error, "cannot reindex " + layout.home.string() + ": " + std::strerror(errno));
  std::error_code ec;
  fs::create_directories(layout.staging(), ec);
  // No commit may run while the index is replaced.
  auto lock = FileLock::acquire(layout.commit_lock());
  if (!lock) return lock.error();
  fs::path fresh = temp_sibling(layout.index_file());
  ReindexReport report;
  {
    auto index = ModelIndex::open(fresh, layout.home, options.busy_timeout_ms, IndexMode::rebuild);
    if (!index) {
      fs::remove(fresh, ec);
      return index.error();
    }
    Result<void> status = {};
    for_each_model_folder(layout,
                          [&](const fs::path& dir, const std::string& publisher, const std::string& name) {
                            if (!status) return;
                            auto row = index_folder(dir, publisher, name);
                            if (auto* reason = std::get_if<std::string>(&row)) {
                              report.skipped.push_back({dir, *reason});
                              return;
                            }
                            status = index->upsert(std::get<LibraryModel>(row));
                            if (status) ++report.indexed;
                          });
    if (!status) {
      fs::remove(fresh, ec);
      return status.error();
    }
  }  // closed: the new file is complete on its own
  if (auto r = fsync_path(fresh); !r) return r.error();
  // A WAL of the old file must never be replayed onto the new one: it goes first.
  for (const char* side : {"-wal", "-shm"}) fs::remove(layout.index_file().string() + side, ec);
  if (::rename(fresh.c_str(), layout.index_file().c_str()) != 0)
    return errno_error("cannot replace", layout.index_file(), errno);
  (void)fsync_path(layout.home);
  spdlog::info("reindexed {}: {} models, {} folders skipped", layout.home.string(), report.indexed,
               report.skipped.size());
  return report;
}

}  // namespace xervo::library
