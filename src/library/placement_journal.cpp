#include "library/placement_journal.h"

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "library/files.h"

namespace xervo::library {
namespace fs = std::filesystem;

namespace {

bool exists_no_follow(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

// Whether the name `path` is the file the placement moves.
bool is_placed_file(const fs::path& path, const Placement& p) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_dev) == p.device &&
         static_cast<uint64_t>(st.st_ino) == p.inode;
}

nlohmann::json to_json(const Placement& p) {
  return {{"version", 1},        {"from", p.from.string()},
          {"to", p.to.string()}, {"undo", p.undo == UndoAction::restore ? "restore" : "discard"},
          {"id", p.id},          {"sha256", p.sha256},
          {"device", p.device},  {"inode", p.inode}};
}

std::optional<Placement> parse(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  for (const char* key : {"from", "to", "undo", "id", "sha256"})
    if (!j.contains(key) || !j[key].is_string()) return std::nullopt;
  for (const char* key : {"device", "inode"})
    if (!j.contains(key) || !j[key].is_number_unsigned()) return std::nullopt;
  Placement p;
  p.from = j["from"].get<std::string>();
  p.to = j["to"].get<std::string>();
  p.undo = j["undo"] == "restore" ? UndoAction::restore : UndoAction::discard;
  p.id = j["id"].get<std::string>();
  p.sha256 = j["sha256"].get<std::string>();
  p.device = j["device"].get<uint64_t>();
  p.inode = j["inode"].get<uint64_t>();
  if (!p.from.is_absolute() || !p.to.is_absolute()) return std::nullopt;
  return p;
}

// The row is in: what is left of a move is the source name when link + unlink was cut short.
void complete_placement(const Placement& p) {
  if (p.undo == UndoAction::restore && is_placed_file(p.from, p) && is_placed_file(p.to, p))
    ::unlink(p.from.c_str());
}

}  // namespace

Result<PlacementJournal> PlacementJournal::begin(const fs::path& staging_dir, Placement placement) {
  PlacementJournal journal;
  struct stat st {};
  if (::lstat(placement.from.c_str(), &st) != 0) return errno_error("cannot stat", placement.from, errno);
  placement.device = static_cast<uint64_t>(st.st_dev);
  placement.inode = static_cast<uint64_t>(st.st_ino);
  journal.file_ = temp_sibling(staging_dir / "place", ".journal");
  journal.placement_ = std::move(placement);
  if (auto r = write_file_atomic(journal.file_, to_json(journal.placement_).dump()); !r) return r.error();
  return journal;
}

void PlacementJournal::finish() {
  std::error_code ec;
  complete_placement(placement_);
  fs::remove(file_, ec);
}

void PlacementJournal::abandon() {
  std::error_code ec;
  fs::remove(file_, ec);
}

Result<void> PlacementJournal::undo() {
  auto r = undo_placement(placement_);
  // Kept when the file could not go back: recovery tries again and keeps saying where it is.
  if (r) {
    std::error_code ec;
    fs::remove(file_, ec);
  }
  return r;
}

Result<void> undo_placement(const Placement& p) {
  if (!is_placed_file(p.to, p)) return {};  // never placed (whatever is at `to` is not ours to touch)
  if (p.undo == UndoAction::discard) {
    if (::unlink(p.to.c_str()) != 0 && errno != ENOENT) return errno_error("cannot remove", p.to, errno);
    return {};
  }
  if (exists_no_follow(p.from)) {
    if (is_placed_file(p.from, p)) {  // link + unlink was cut short: the source name is still there
      ::unlink(p.to.c_str());
      return {};
    }
    return Error(ErrorCode::io_error, "cannot move " + p.to.string() + " back to " + p.from.string() +
                                          ": another file has that name now; the file stays at " +
                                          p.to.string());
  }
  if (auto r = rename_noreplace(p.to, p.from); !r)
    return Error(ErrorCode::io_error, r.error().message() + "; the file stays at " + p.to.string());
  (void)fsync_path(p.from.parent_path());
  return {};
}

std::vector<std::string> recover_placements(const fs::path& staging_dir,
                                            const std::function<bool(const Placement&)>& committed) {
  std::vector<std::string> problems;
  std::error_code ec;
  for (auto it = fs::directory_iterator(staging_dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    long pid = temp_owner(name, ".journal");
    if (pid <= 0 || process_alive(pid)) continue;
    auto text = read_file(it->path());
    if (!text) continue;
    auto p = parse(*text);
    std::error_code rm;
    if (!p) {
      problems.push_back(it->path().string() + ": unreadable placement journal (left for inspection)");
      continue;
    }
    if (committed(*p)) {
      complete_placement(*p);
      fs::remove(it->path(), rm);
      continue;
    }
    if (auto r = undo_placement(*p); !r) {
      problems.push_back(r.error().message());
      continue;
    }
    fs::remove(it->path(), rm);
  }
  return problems;
}

}  // namespace xervo::library
