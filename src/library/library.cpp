// ModelLibrary: opening a home, the index-facing operations (search, get, overrides, remove,
// verify, find) and commit_file(), the one place where a file becomes a library model.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/log.h"
#include "library/files.h"
#include "library/gguf_info.h"
#include "library/hub_client.h"
#include "library/library_impl.h"

namespace xervo {
namespace fs = std::filesystem;

std::string_view to_string(LibraryModelState state) {
  switch (state) {
    case LibraryModelState::downloading:
      return "downloading";
    case LibraryModelState::ready:
      return "ready";
    case LibraryModelState::failed:
      return "failed";
  }
  return "failed";
}

std::optional<LibraryModelState> parse_library_model_state(std::string_view name) {
  if (name == "downloading") return LibraryModelState::downloading;
  if (name == "ready") return LibraryModelState::ready;
  if (name == "failed") return LibraryModelState::failed;
  return std::nullopt;
}

nlohmann::json to_json(const LibraryModel& m) {
  return {{"id", m.id},
          {"publisher", m.publisher},
          {"name", m.name},
          {"format", m.format},
          {"architecture", m.architecture},
          {"task", m.task ? std::string(to_string(*m.task)) : ""},
          {"parameter_count", m.parameter_count},
          {"quantization", m.quantization},
          {"context_length", m.context_length},
          {"embedding_length", m.embedding_length},
          {"block_count", m.block_count},
          {"size_bytes", m.size_bytes},
          {"sha256", m.sha256},
          {"source",
           {{"kind", m.source_kind},
            {"path", m.source_path},
            {"hub_repo", m.hub_repo},
            {"hub_revision", m.hub_revision},
            {"hub_file", m.hub_file}}},
          {"state", to_string(m.state)},
          {"downloaded_bytes", m.downloaded_bytes},
          {"error", m.error},
          {"tags", m.tags},
          {"description", m.description},
          {"created_at", m.created_at},
          {"updated_at", m.updated_at},
          {"file", m.file.string()}};
}

Result<LibraryOptions> library_options_from_json(const nlohmann::json& s) {
  LibraryOptions o;
  if (s.is_null()) return o;
  if (!s.is_object()) return Error(ErrorCode::config_invalid, "[library] must be a table");
  try {
    if (s.contains("home")) o.home = s.at("home").get<std::string>();
    if (s.contains("hub_endpoint")) o.hub_endpoint = s.at("hub_endpoint").get<std::string>();
    if (s.contains("hub_token_env")) o.hub_token_env = s.at("hub_token_env").get<std::string>();
    if (s.contains("hub_search_ttl_s")) o.hub_search_ttl_s = s.at("hub_search_ttl_s").get<int>();
    if (s.contains("parallel_downloads")) o.parallel_downloads = s.at("parallel_downloads").get<int>();
    if (s.contains("connect_timeout_ms")) o.connect_timeout_ms = s.at("connect_timeout_ms").get<int>();
    if (s.contains("idle_timeout_ms")) o.idle_timeout_ms = s.at("idle_timeout_ms").get<int>();
    if (s.contains("busy_timeout_ms")) o.busy_timeout_ms = s.at("busy_timeout_ms").get<int>();
    if (s.contains("max_file_bytes")) o.max_file_bytes = s.at("max_file_bytes").get<uint64_t>();
  } catch (const std::exception& e) {
    return Error(ErrorCode::config_invalid, std::string("[library]: ") + e.what());
  }
  if (o.parallel_downloads < 1 || o.parallel_downloads > 32)
    return Error(ErrorCode::config_invalid, "[library] parallel_downloads must be in 1..32");
  return o;
}

Result<std::shared_ptr<ModelLibrary>> ModelLibrary::open(LibraryOptions options) {
  using namespace library;
  init_logging();
  if (options.home.empty()) {
    if (const char* env = std::getenv("XERVO_HOME"); env && *env) {
      options.home = env;
    } else if (const char* h = std::getenv("HOME"); h && *h) {
      options.home = fs::path(h) / ".local/share/xervo";
    } else {
      return Error(ErrorCode::config_invalid, "no library home: set XERVO_HOME or [library] home");
    }
  }
  if (options.hub_endpoint.empty()) {
    const char* env = std::getenv("HF_ENDPOINT");
    options.hub_endpoint = env && *env ? env : "https://huggingface.co";
  }
  while (!options.hub_endpoint.empty() && options.hub_endpoint.back() == '/') options.hub_endpoint.pop_back();
  std::error_code ec;
  options.home = fs::absolute(options.home, ec);
  for (const char* sub : {"models", "tmp", "cache", "mappings"}) {
    fs::create_directories(options.home / sub, ec);
    if (ec)
      return Error(ErrorCode::io_error, "cannot create " + (options.home / sub).string() + ": " +
                                            ec.message() + " (set XERVO_HOME to a writable folder)");
  }
  auto index = ModelIndex::open(options.home / "models.db", options.home, options.busy_timeout_ms);
  if (!index) return index.error();
  auto lib = std::make_shared<LibraryImpl>(std::move(options), std::move(*index));
  return std::shared_ptr<ModelLibrary>(lib);
}

namespace library {

namespace {

bool pid_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

// "<name>.<pid>.<n>.tmp" -> pid, or -1.
long temp_owner(const std::string& file) {
  if (file.size() < 5 || file.compare(file.size() - 4, 4, ".tmp") != 0) return -1;
  std::string stem = file.substr(0, file.size() - 4);
  auto dot2 = stem.rfind('.');
  if (dot2 == std::string::npos) return -1;
  auto dot1 = stem.rfind('.', dot2 - 1);
  if (dot1 == std::string::npos) return -1;
  try {
    return std::stol(stem.substr(dot1 + 1, dot2 - dot1 - 1));
  } catch (...) {
    return -1;
  }
}

}  // namespace

nlohmann::json model_metadata_json(const LibraryModel& model) {
  auto j = to_json(model);
  j["metadata_version"] = 1;
  // State and progress are facts of the index; metadata.json only describes a complete file.
  j.erase("state");
  j.erase("downloaded_bytes");
  j.erase("error");
  j.erase("file");
  return j;
}

LibraryImpl::LibraryImpl(LibraryOptions options, ModelIndex index)
    : options_(std::move(options)), index_(std::move(index)) {
  recover();
}

LibraryImpl::~LibraryImpl() = default;

HubClient& LibraryImpl::hub() {
  std::lock_guard lock(hub_mutex_);
  if (!hub_) hub_ = std::make_unique<HubClient>(options_);
  return *hub_;
}

void LibraryImpl::recover() {
  std::error_code ec;
  // Temp files of dead processes are garbage: the index never pointed at them.
  std::vector<fs::path> dirs = {staging_dir()};
  for (auto it = fs::recursive_directory_iterator(models_dir(), ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string file = it->path().filename().string();
    long pid = temp_owner(file);
    if (pid > 0 && !pid_alive(pid)) fs::remove(it->path(), ec);
  }
  for (auto it = fs::directory_iterator(staging_dir(), ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    long pid = temp_owner(it->path().filename().string());
    if (pid > 0 && !pid_alive(pid)) fs::remove(it->path(), ec);
  }
  // A row left `downloading` by a process that is gone: nobody holds its lock file.
  LibraryQuery q;
  q.state = LibraryModelState::downloading;
  q.limit = 10000;
  auto rows = index_.search(q);
  if (!rows) return;
  for (const auto& m : *rows) {
    fs::path lock_path = m.file.string() + ".lock";
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      (void)index_.set_state(
          m.id, LibraryModelState::failed,
          "download interrupted; run `xervo models pull hf:" + m.hub_repo + "/" + m.hub_file + "` to resume");
      ::flock(fd, LOCK_UN);
    }
    ::close(fd);
  }
}

Result<LibraryModel> LibraryImpl::apply_overrides(LibraryModel model) const {
  fs::path path = model_dir(model.publisher, model.name) / "overrides.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) return model;
  auto text = read_file(path);
  if (!text) return text.error();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object())
    return Error(ErrorCode::config_invalid, path.string() + ": not a JSON object (fix or delete the file)");
  if (j.contains("description") && j["description"].is_string()) model.description = j["description"];
  if (j.contains("tags") && j["tags"].is_array()) {
    model.tags.clear();
    for (auto& t : j["tags"])
      if (t.is_string()) model.tags.push_back(normalize_name(t.get<std::string>()));
  }
  if (j.contains("task") && j["task"].is_string()) {
    if (auto t = parse_model_task(j["task"].get<std::string>())) model.task = t;
  }
  return model;
}

Result<std::vector<LibraryModel>> LibraryImpl::search(const LibraryQuery& query) {
  return with_index([&](ModelIndex& index) { return index.search(query); });
}

Result<LibraryModel> LibraryImpl::get(std::string_view id) {
  auto row = with_index([&](ModelIndex& index) { return index.get(id); });
  if (!row) return row.error();
  if (!row->has_value())
    return Error(ErrorCode::model_not_found,
                 "no model '" + std::string(id) + "' in the library (see `xervo models list`)");
  return std::move(**row);
}

Result<LibraryModel> LibraryImpl::set_overrides(std::string_view id, const nlohmann::json& overrides) {
  if (!overrides.is_object()) return Error(ErrorCode::invalid_input, "overrides must be a JSON object");
  for (auto& [key, value] : overrides.items()) {
    if (key != "description" && key != "tags" && key != "task")
      return Error(ErrorCode::invalid_input, "cannot override '" + key + "': only description, tags, task");
    if (key == "task" && (!value.is_string() || !parse_model_task(value.get<std::string>())))
      return Error(ErrorCode::invalid_input, "task must be embed, rerank or generate");
    if (key == "tags" && !value.is_array()) return Error(ErrorCode::invalid_input, "tags must be an array");
    if (key == "description" && !value.is_string())
      return Error(ErrorCode::invalid_input, "description must be a string");
  }
  auto model = get(id);
  if (!model) return model.error();
  fs::path path = model_dir(model->publisher, model->name) / "overrides.json";
  nlohmann::json merged = nlohmann::json::object();
  if (auto text = read_file(path); text) {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_object()) merged = j;
  }
  merged.update(overrides);
  if (auto r = write_file_atomic(path, merged.dump(2)); !r) return r.error();
  auto updated = apply_overrides(*model);
  if (!updated) return updated.error();
  if (auto r = with_index([&](ModelIndex& index) { return index.upsert(*updated); }); !r) return r.error();
  return get(id);
}

Result<void> LibraryImpl::remove(std::string_view id) {
  auto model = get(id);
  if (!model) return model.error();
  // The row goes first: a crash between the two steps leaves files without a row, never a row
  // naming a half-deleted file.
  if (auto r = with_index([&](ModelIndex& index) { return index.remove(id); }); !r) return r;
  std::error_code ec;
  fs::path dir = model_dir(model->publisher, model->name);
  if (is_within(models_dir(), dir)) fs::remove_all(dir, ec);
  if (ec)
    return Error(ErrorCode::io_error,
                 "removed '" + model->id + "' from the index but not " + dir.string() + ": " + ec.message());
  return {};
}

Result<std::vector<VerifyOutcome>> LibraryImpl::verify(std::string_view id) {
  std::vector<LibraryModel> models;
  if (id.empty()) {
    auto all = with_index([&](ModelIndex& index) { return index.all(); });
    if (!all) return all.error();
    models = std::move(*all);
  } else {
    auto m = get(id);
    if (!m) return m.error();
    models.push_back(std::move(*m));
  }
  std::vector<VerifyOutcome> out;
  for (const auto& m : models) {
    VerifyOutcome v{m.id, false, ""};
    std::error_code ec;
    if (m.state != LibraryModelState::ready) {
      v.ok = true;
      v.detail = std::string("skipped (") + std::string(to_string(m.state)) + ")";
    } else if (!fs::exists(m.file, ec)) {
      v.detail = "missing: " + m.file.string();
    } else if (auto size = fs::file_size(m.file, ec); ec || size != m.size_bytes) {
      v.detail = "size " + std::to_string(size) + " != " + std::to_string(m.size_bytes) + " recorded";
    } else if (auto sha = sha256_file(m.file); !sha) {
      v.detail = sha.error().message();
    } else if (*sha != m.sha256) {
      v.detail =
          "sha256 " + *sha + " != " + m.sha256 + " recorded (the file changed; re-import or pull it again)";
    } else {
      v.ok = true;
      v.detail = "ok";
      (void)write_verified_stamp(model_dir(m.publisher, m.name), m.file, *sha);
    }
    out.push_back(std::move(v));
  }
  return out;
}

Result<LibraryModel> LibraryImpl::find(std::string_view model_id) {
  std::string_view id = model_id;
  if (id.starts_with("library:")) id.remove_prefix(8);
  if (id.starts_with("hf:")) {
    auto ref = parse_hub_ref(id);
    if (!ref) return ref.error();
    auto rows = with_index([&](ModelIndex& index) { return index.find_by_repo(ref->repo); });
    if (!rows) return rows.error();
    std::vector<HubFileEntry> files;
    std::vector<const LibraryModel*> candidates;
    for (const auto& m : *rows) {
      if (m.state != LibraryModelState::ready) continue;
      if (lowercase(m.hub_repo) != lowercase(ref->repo)) continue;
      if (!ref->revision.empty() && m.hub_revision != ref->revision) continue;
      files.push_back(HubFileEntry{m.hub_file, m.size_bytes, m.sha256});
      candidates.push_back(&m);
    }
    auto picked = pick_gguf_file(*ref, files);
    if (!picked)
      return Error(ErrorCode::model_not_found, std::string(model_id) +
                                                   " is not in the library yet: run `xervo models pull " +
                                                   std::string(model_id) + "`");
    for (auto* m : candidates)
      if (m->hub_file == picked->path) return *m;
    return Error(ErrorCode::model_not_found, std::string(model_id) + " is not in the library");
  }
  return get(id);
}

Result<ImportOutcome> LibraryImpl::commit_file(const StagedFile& s) {
  ImportOutcome outcome;
  outcome.source = s.source_path;
  auto info = read_gguf_info(s.staged);
  if (!info) return info.error();
  std::error_code ec;

  std::lock_guard lock(mutex_);
  Transaction tx(index_.db());
  if (auto r = tx.begin(); !r) return r.error();

  LibraryModel model;
  auto existing = index_.find_by_sha256(s.sha256);
  if (!existing) return existing.error();
  if (existing->has_value() && (*existing)->id != s.forced_id) {
    // Same content again: one record. Canonical facts are refreshed, user overrides re-applied.
    model = **existing;
    outcome.already_present = true;
    if (!s.in_place) fs::remove(s.staged, ec);
  } else {
    std::string name = s.name;
    if (!s.forced_id.empty()) {
      auto slash = s.forced_id.find('/');
      name = s.forced_id.substr(slash + 1);
    } else {
      // A different file under the same name gets a suffix; a folder without a row is left over
      // from a crash and is reused.
      for (int n = 2;; ++n) {
        auto taken = index_.id_exists(s.publisher + "/" + name);
        if (!taken) return taken.error();
        if (!*taken) break;
        name = s.name + "-" + std::to_string(n);
      }
    }
    model.id = s.publisher + "/" + name;
    model.publisher = s.publisher;
    model.name = name;
    model.sha256 = s.sha256;
    model.source_kind = s.source_kind;
    model.source_path = s.source_path;
    model.hub_repo = s.hub_repo;
    model.hub_revision = s.hub_revision;
    model.hub_file = s.hub_file;
    model.created_at = unix_now();
    fs::path dir = model_dir(s.publisher, name);
    fs::create_directories(dir, ec);
    if (ec) return Error(ErrorCode::io_error, "cannot create " + dir.string() + ": " + ec.message());
    if (s.in_place) {
      model.file = fs::absolute(s.staged);
    } else {
      model.file = dir / (name + ".gguf");
      if (::rename(s.staged.c_str(), model.file.c_str()) != 0)
        return Error(ErrorCode::io_error, "cannot move " + s.staged.string() + " to " + model.file.string() +
                                              ": " + std::strerror(errno));
      (void)fsync_path(dir);
    }
  }
  model.format = "gguf";
  model.architecture = info->architecture;
  model.task = info->task;
  model.parameter_count = info->parameter_count;
  model.quantization = info->quantization;
  model.context_length = info->context_length;
  model.embedding_length = info->embedding_length;
  model.block_count = info->block_count;
  model.size_bytes = info->file_size;
  model.description = info->description;
  model.tags = {};
  for (const auto& t : info->tags) model.tags.push_back(normalize_name(t));
  for (const auto& t : s.tags)
    if (std::find(model.tags.begin(), model.tags.end(), t) == model.tags.end()) model.tags.push_back(t);
  model.state = LibraryModelState::ready;
  model.error.clear();
  model.downloaded_bytes = model.size_bytes;
  model.updated_at = unix_now();
  if (auto r = write_file_atomic(model_dir(model.publisher, model.name) / "metadata.json",
                                 model_metadata_json(model).dump(2));
      !r)
    return r.error();
  (void)write_verified_stamp(model_dir(model.publisher, model.name), model.file, model.sha256);
  auto with_overrides = apply_overrides(model);
  if (!with_overrides) return with_overrides.error();
  if (auto r = index_.upsert(*with_overrides); !r) return r.error();
  if (auto r = tx.commit(); !r) return r.error();
  outcome.model = std::move(*with_overrides);
  return outcome;
}

}  // namespace library
}  // namespace xervo
