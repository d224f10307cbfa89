#include "library/mapping.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "library/file_lock.h"
#include "library/files.h"

namespace xervo::library {
namespace fs = std::filesystem;

namespace {

struct ManifestEntry {
  std::string path;  // relative to target
  std::string model_id;
  std::string strategy;
  std::string link_target;  // symlink: where it points
  uint64_t inode = 0;       // hardlink / copy: what we created
  uint64_t size = 0;
};

std::string strategy_name(LinkStrategy s) {
  switch (s) {
    case LinkStrategy::symlink:
      return "symlink";
    case LinkStrategy::hardlink:
      return "hardlink";
    case LinkStrategy::copy:
      return "copy";
  }
  return "symlink";
}

Result<std::map<std::string, ManifestEntry>> read_manifest(const fs::path& file) {
  std::map<std::string, ManifestEntry> out;
  std::error_code ec;
  if (!fs::exists(file, ec)) return out;
  auto text = read_file(file);
  if (!text) return text.error();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("entries") || !j["entries"].is_array())
    return Error(ErrorCode::config_invalid, file.string() +
                                                ": malformed manifest (fix or delete it; sync then "
                                                "forgets the entries it created)");
  for (const auto& e : j["entries"]) {
    if (!e.is_object()) continue;
    ManifestEntry m;
    m.path = e.value("path", "");
    m.model_id = e.value("model_id", "");
    m.strategy = e.value("strategy", "");
    m.link_target = e.value("link_target", "");
    m.inode = e.value("inode", uint64_t{0});
    m.size = e.value("size", uint64_t{0});
    if (!m.path.empty()) out[m.path] = m;
  }
  return out;
}

Result<void> write_manifest(const fs::path& file, const std::map<std::string, ManifestEntry>& entries) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& [p, e] : entries)
    arr.push_back({{"path", e.path},
                   {"model_id", e.model_id},
                   {"strategy", e.strategy},
                   {"link_target", e.link_target},
                   {"inode", e.inode},
                   {"size", e.size}});
  return write_file_atomic(file, nlohmann::json{{"version", 1}, {"entries", arr}}.dump(2));
}

// Whether the thing at `path` is still exactly what the manifest says we created.
bool still_ours(const fs::path& path, const ManifestEntry& e) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return false;
  if (e.strategy == "symlink") {
    if (!S_ISLNK(st.st_mode)) return false;
    std::error_code ec;
    return fs::read_symlink(path, ec).string() == e.link_target && !ec;
  }
  return S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_ino) == e.inode &&
         static_cast<uint64_t>(st.st_size) == e.size;
}

// Whether `path` currently presents `model` as `strategy` would have made it.
bool points_to(const fs::path& path, const LibraryModel& model, const std::string& strategy) {
  std::error_code ec;
  if (strategy == "symlink") return fs::is_symlink(path, ec) && fs::read_symlink(path, ec) == model.file;
  if (strategy == "hardlink") return fs::equivalent(path, model.file, ec) && !ec;
  return fs::is_regular_file(path, ec) && fs::file_size(path, ec) == model.size_bytes;
}

void remove_empty_parents(const fs::path& target, fs::path dir) {
  std::error_code ec;
  while (dir != target && is_within(target, dir) && fs::is_directory(dir, ec) && fs::is_empty(dir, ec)) {
    fs::remove(dir, ec);
    dir = dir.parent_path();
  }
}

Result<ManifestEntry> create_entry(const MappingConfig& m, const fs::path& rel, const LibraryModel& model) {
  fs::path dest = m.target / rel;
  std::error_code ec;
  fs::create_directories(dest.parent_path(), ec);
  if (ec)
    return Error(ErrorCode::io_error, "cannot create " + dest.parent_path().string() + ": " + ec.message());
  fs::path tmp = temp_sibling(dest);
  ManifestEntry e;
  e.path = rel.string();
  e.model_id = model.id;
  e.strategy = strategy_name(m.strategy);
  switch (m.strategy) {
    case LinkStrategy::symlink:
      fs::create_symlink(model.file, tmp, ec);
      e.link_target = model.file.string();
      break;
    case LinkStrategy::hardlink:
      fs::create_hard_link(model.file, tmp, ec);
      break;
    case LinkStrategy::copy: {
      auto r = copy_and_hash(model.file, tmp);
      if (!r) {
        fs::remove(tmp, ec);
        return r.error();
      }
      break;
    }
  }
  if (ec) {
    fs::remove(tmp, ec);
    return Error(
        ErrorCode::io_error,
        "cannot create " + e.strategy + " " + dest.string() + ": " + ec.message() +
            (m.strategy == LinkStrategy::hardlink ? " (another file system? use symlink or copy)" : ""));
  }
  // rename() puts the entry in place atomically: the other app never sees a half copy.
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    auto err = Error(ErrorCode::io_error, "cannot place " + dest.string() + ": " + std::strerror(errno));
    fs::remove(tmp, ec);
    return err;
  }
  struct stat st {};
  if (m.strategy != LinkStrategy::symlink && ::lstat(dest.c_str(), &st) == 0) {
    e.inode = static_cast<uint64_t>(st.st_ino);
    e.size = static_cast<uint64_t>(st.st_size);
  }
  return e;
}

}  // namespace

bool mapping_matches(const MappingConfig& m, const LibraryModel& model) {
  if (model.state != LibraryModelState::ready) return false;
  if (m.task && model.task != m.task) return false;
  if (!m.architecture.empty() && model.architecture != m.architecture) return false;
  // The apps mapped into read GGUF: a whisper.cpp file only goes where the filter asks for it.
  if (model.format != "gguf" && m.task != ModelTask::transcribe && m.architecture != model.architecture)
    return false;
  for (const auto& t : m.tags)
    if (std::find(model.tags.begin(), model.tags.end(), t) == model.tags.end()) return false;
  return true;
}

Result<fs::path> render_mapping_path(const MappingConfig& m, const LibraryModel& model) {
  std::string out;
  const std::string& p = m.pattern;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != '{') {
      out.push_back(p[i]);
      continue;
    }
    auto close = p.find('}', i);
    if (close == std::string::npos)
      return Error(ErrorCode::config_invalid, "mapping " + m.name + ": unclosed { in pattern");
    std::string key = p.substr(i + 1, close - i - 1);
    if (key == "publisher")
      out += model.publisher;
    else if (key == "name")
      out += model.name;
    else if (key == "id")
      out += model.id;
    else if (key == "quantization")
      out += model.quantization.empty() ? "unknown" : model.quantization;
    else if (key == "architecture")
      out += model.architecture;
    else if (key == "task")
      out += model.task ? std::string(to_string(*model.task)) : "unknown";
    else
      return Error(ErrorCode::config_invalid, "mapping " + m.name + ": unknown placeholder {" + key + "}");
    i = close;
  }
  fs::path rel(out);
  if (rel.empty() || rel.is_absolute())
    return Error(ErrorCode::invalid_input,
                 "mapping " + m.name + ": pattern gives '" + out + "', not a relative path");
  for (const auto& part : rel)
    if (!is_safe_component(part.string()))
      return Error(ErrorCode::invalid_input,
                   "mapping " + m.name + ": pattern gives '" + out + "', which leaves the target");
  return rel;
}

Result<MappingSyncReport> sync_mapping(const MappingConfig& m, const fs::path& manifest_file,
                                       const std::vector<LibraryModel>& models) {
  MappingSyncReport report;
  report.mapping = m.name;
  std::error_code ec;
  fs::create_directories(m.target, ec);
  if (ec)
    return Error(ErrorCode::io_error,
                 "mapping " + m.name + ": cannot create " + m.target.string() + ": " + ec.message());
  // One sync of a mapping at a time, across threads and processes.
  auto lock = FileLock::acquire(manifest_file.string() + ".lock");
  if (!lock) return lock.error();

  auto manifest = read_manifest(manifest_file);
  if (!manifest) return manifest.error();
  std::map<std::string, const LibraryModel*> desired;
  for (const auto& model : models) {
    if (!mapping_matches(m, model)) continue;
    auto rel = render_mapping_path(m, model);
    if (!rel) {
      report.errors.push_back(rel.error().message());
      continue;
    }
    desired.emplace(rel->string(), &model);
  }
  std::string strategy = strategy_name(m.strategy);
  // Remove what we created and is no longer wanted (or points to the wrong model now).
  for (auto it = manifest->begin(); it != manifest->end();) {
    fs::path dest = m.target / it->first;
    auto want = desired.find(it->first);
    bool keep = want != desired.end() && want->second->id == it->second.model_id &&
                it->second.strategy == strategy && still_ours(dest, it->second) &&
                points_to(dest, *want->second, strategy);
    if (keep) {
      ++it;
      continue;
    }
    if (still_ours(dest, it->second)) {
      fs::remove(dest, ec);
      if (ec) {
        report.errors.push_back("cannot remove " + dest.string() + ": " + ec.message());
        ++it;
        continue;
      }
      ++report.removed;
      remove_empty_parents(m.target, dest.parent_path());
    }
    // Not ours any more (the user replaced it): forget it, leave the file alone.
    it = manifest->erase(it);
  }
  for (const auto& [rel, model] : desired) {
    if (manifest->count(rel)) {
      ++report.unchanged;
      continue;
    }
    fs::path dest = m.target / rel;
    if (fs::exists(fs::symlink_status(dest, ec))) {
      report.errors.push_back(dest.string() + " exists and was not created by xervo; left alone");
      continue;
    }
    auto entry = create_entry(m, rel, *model);
    if (!entry) {
      report.errors.push_back(entry.error().message());
      continue;
    }
    (*manifest)[rel] = *entry;
    ++report.created;
  }
  if (auto r = write_manifest(manifest_file, *manifest); !r) return r.error();
  return report;
}

Result<std::vector<MappingStatusEntry>> mapping_status(const MappingConfig& m, const fs::path& manifest_file,
                                                       const std::vector<LibraryModel>& models) {
  auto manifest = read_manifest(manifest_file);
  if (!manifest) return manifest.error();
  std::vector<MappingStatusEntry> out;
  std::map<std::string, const LibraryModel*> desired;
  for (const auto& model : models) {
    if (!mapping_matches(m, model)) continue;
    if (auto rel = render_mapping_path(m, model)) desired.emplace(rel->string(), &model);
  }
  std::string strategy = strategy_name(m.strategy);
  for (const auto& [rel, model] : desired) {
    fs::path dest = m.target / rel;
    auto e = manifest->find(rel);
    std::string state;
    if (e == manifest->end()) {
      std::error_code ec;
      state = fs::exists(fs::symlink_status(dest, ec)) ? "conflict" : "missing";
    } else if (!still_ours(dest, e->second)) {
      state = "missing";
    } else {
      state = points_to(dest, *model, strategy) && e->second.model_id == model->id ? "ok" : "stale";
    }
    out.push_back({m.name, dest, model->id, state});
  }
  for (const auto& [rel, e] : *manifest)
    if (!desired.count(rel)) out.push_back({m.name, m.target / rel, e.model_id, "orphan"});
  return out;
}

namespace {

// NAME.toml files of `dir`, sorted; only `name` when given.
std::vector<fs::path> mapping_files(const fs::path& dir, std::string_view name) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->path().extension() == ".toml" && (name.empty() || it->path().stem() == name))
      files.push_back(it->path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

Result<std::vector<MappingSyncReport>> sync_mappings(const fs::path& dir, std::string_view name,
                                                     const std::vector<LibraryModel>& models) {
  auto files = mapping_files(dir, name);
  if (files.empty())
    return Error(ErrorCode::config_invalid,
                 name.empty() ? "no mappings in " + dir.string() + " (add NAME.toml there)"
                              : "no mapping " + dir.string() + "/" + std::string(name) + ".toml");
  std::vector<MappingSyncReport> out;
  for (const auto& f : files) {
    auto m = load_mapping(f);
    if (!m) return m.error();
    auto r = sync_mapping(*m, dir / (m->name + ".manifest.json"), models);
    if (!r) return r.error();
    out.push_back(std::move(*r));
  }
  return out;
}

Result<std::vector<MappingStatusEntry>> mapping_statuses(const fs::path& dir, std::string_view name,
                                                         const std::vector<LibraryModel>& models) {
  std::vector<MappingStatusEntry> out;
  for (const auto& f : mapping_files(dir, name)) {
    auto m = load_mapping(f);
    if (!m) return m.error();
    auto r = mapping_status(*m, dir / (m->name + ".manifest.json"), models);
    if (!r) return r.error();
    out.insert(out.end(), r->begin(), r->end());
  }
  return out;
}

}  // namespace xervo::library
