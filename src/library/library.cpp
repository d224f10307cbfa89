// ModelLibrary::open and ::reindex (resolving the home, read-only detection, a lost index), and
// LibraryImpl, which hands each operation to the part of src/library that owns it.
#include <unistd.h>

#include <cerrno>

#include "core/log.h"
#include "xervo/config.h"
#include "library/files.h"
#include "library/importer.h"
#include "library/library_impl.h"
#include "library/mapping.h"
#include "library/model_lookup.h"
#include "library/overrides.h"
#include "library/pull.h"
#include "library/reindex.h"
#include "library/verified_stamp.h"

namespace xervo {
namespace fs = std::filesystem;

namespace {

Result<LibraryOptions> resolve_options(LibraryOptions options) {
  if (options.home.empty()) options.home = default_home();
  if (options.home.empty())
    return Error(ErrorCode::config_invalid, "no library home: set XERVO_HOME or [library] home");
  if (options.hub_endpoint.empty()) {
    const char* env = std::getenv("HF_ENDPOINT");
    options.hub_endpoint = env && *env ? env : "https://huggingface.co";
  }
  while (!options.hub_endpoint.empty() && options.hub_endpoint.back() == '/') options.hub_endpoint.pop_back();
  std::error_code ec;
  options.home = fs::absolute(options.home, ec);
  return options;
}

bool writable(const fs::path& path) { return ::access(path.c_str(), W_OK) == 0; }

// Reading needs nothing written: a home (or index) this process may not write is opened read-only.
Result<void> prepare_home(LibraryOptions& options) {
  library::LibraryLayout layout{options.home};
  std::error_code ec;
  if (!options.read_only && fs::exists(layout.home, ec) &&
      (!writable(layout.home) || (fs::exists(layout.index_file(), ec) && !writable(layout.index_file())))) {
    spdlog::info("library {} is not writable: opened read-only", layout.home.string());
    options.read_only = true;
  }
  if (options.read_only) {
    if (!fs::is_directory(layout.home, ec))
      return Error(ErrorCode::io_error, "no library at " + layout.home.string());
    return {};
  }
  for (const auto& dir : {layout.models(), layout.staging(), layout.cache(), layout.mappings()}) {
    fs::create_directories(dir, ec);
    if (ec)
      return Error(ErrorCode::io_error, "cannot create " + dir.string() + ": " + ec.message() +
                                            " (set XERVO_HOME to a writable folder)");
  }
  return {};
}

// An index that is gone or empty while model folders exist has lost its rows: saying "no models"
// would hide the user's files.
Result<void> check_index_not_lost(const library::LibraryLayout& layout) {
  std::error_code ec;
  const fs::path db = layout.index_file();
  bool missing = !fs::exists(db, ec);
  uint64_t size = missing ? 0 : fs::file_size(db, ec);
  uint64_t wal = fs::exists(db.string() + "-wal", ec) ? fs::file_size(db.string() + "-wal", ec) : 0;
  if (size > 0 || wal > 0) return {};
  int folders = library::count_model_folders(layout);
  if (folders == 0) return {};
  return Error(ErrorCode::io_error, "the library index " + db.string() +
                                        (missing ? " is missing" : " is empty (0 bytes)") + " but " +
                                        layout.models().string() + " holds " + std::to_string(folders) +
                                        " model folder" + (folders == 1 ? "" : "s") +
                                        ": run `xervo models reindex` to rebuild it from the files");
}

}  // namespace

Result<std::shared_ptr<ModelLibrary>> ModelLibrary::open(LibraryOptions options) {
  using namespace library;
  init_logging();
  auto resolved = resolve_options(std::move(options));
  if (!resolved) return resolved.error();
  options = std::move(*resolved);
  if (auto r = prepare_home(options); !r) return r.error();
  LibraryLayout layout{options.home};
  if (auto r = check_index_not_lost(layout); !r) return r.error();
  auto index = ModelIndex::open(layout.index_file(), layout.home, options.busy_timeout_ms,
                                options.read_only ? IndexMode::read_only : IndexMode::read_write);
  if (!index) return index.error();
  return std::shared_ptr<ModelLibrary>(std::make_shared<LibraryImpl>(std::move(options), std::move(*index)));
}

Result<ReindexReport> ModelLibrary::reindex(LibraryOptions options) {
  init_logging();
  auto resolved = resolve_options(std::move(options));
  if (!resolved) return resolved.error();
  return library::rebuild_index(*resolved);
}

namespace library {

LibraryImpl::LibraryImpl(LibraryOptions options, ModelIndex index)
    : store_(std::move(options), std::move(index)) {
  store_.recover();
}

LibraryImpl::~LibraryImpl() = default;

HubClient& LibraryImpl::hub() {
  std::lock_guard lock(hub_mutex_);
  if (!hub_) hub_ = std::make_unique<HubClient>(store_.options());
  return *hub_;
}

Result<std::vector<LibraryModel>> LibraryImpl::search(const LibraryQuery& query) {
  return store_.with_index([&](ModelIndex& index) { return index.search(query); });
}

Result<LibraryModel> LibraryImpl::get(std::string_view id) { return get_model(store_, id); }

Result<LibraryModel> LibraryImpl::find(std::string_view model_id) { return find_model(store_, model_id); }

Result<LibraryModel> LibraryImpl::set_overrides(std::string_view id, const nlohmann::json& overrides) {
  if (auto w = store_.require_writable("edit a model"); !w) return w.error();
  if (auto r = check_overrides(overrides); !r) return r.error();
  auto model = get(id);
  if (!model) return model.error();
  fs::path dir = store_.layout().model_dir(model->publisher, model->name);
  if (auto r = merge_overrides(dir, overrides); !r) return r.error();
  auto updated = apply_overrides(*model, dir);
  if (!updated) return updated.error();
  if (auto r = store_.with_index([&](ModelIndex& index) { return index.upsert(*updated); }); !r)
    return r.error();
  return get(id);
}

Result<void> LibraryImpl::remove(std::string_view id) {
  auto model = get(id);
  if (!model) return model.error();
  return store_.remove(*model);
}

Result<std::vector<VerifyOutcome>> LibraryImpl::verify(std::string_view id) {
  std::vector<LibraryModel> models;
  if (id.empty()) {
    auto all = store_.with_index([&](ModelIndex& index) { return index.all(); });
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
      if (!store_.read_only())
        (void)write_verified_stamp(store_.layout().model_dir(m.publisher, m.name), m.file, *sha);
    }
    out.push_back(std::move(v));
  }
  return out;
}

Result<bool> LibraryImpl::file_matches_record(const LibraryModel& model) {
  return check_verified(store_.layout().model_dir(model.publisher, model.name), model, !store_.read_only());
}

std::vector<ImportOutcome> LibraryImpl::import_paths(const std::vector<fs::path>& paths,
                                                     const ImportOptions& options) {
  return library::import_paths(store_, paths, options);
}

Result<LibraryModel> LibraryImpl::pull(std::string_view ref, const PullProgressCallback& progress,
                                       std::stop_token stop) {
  return Puller(store_, hub()).pull(ref, progress, std::move(stop));
}

Result<std::vector<HubModelInfo>> LibraryImpl::hub_search(std::string_view text, int limit) {
  return hub().search(text, limit);
}

Result<std::vector<MappingSyncReport>> LibraryImpl::map_sync(std::string_view name) {
  if (auto w = store_.require_writable("sync mappings"); !w) return w.error();
  auto models = store_.with_index([](ModelIndex& index) { return index.all(); });
  if (!models) return models.error();
  return sync_mappings(store_.layout().mappings(), name, *models);
}

Result<std::vector<MappingStatusEntry>> LibraryImpl::map_status(std::string_view name) {
  auto models = store_.with_index([](ModelIndex& index) { return index.all(); });
  if (!models) return models.error();
  return mapping_statuses(store_.layout().mappings(), name, *models);
}

}  // namespace library
}  // namespace xervo
