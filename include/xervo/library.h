// The model library: GGUF files under XERVO_HOME with a searchable SQLite index, imports from
// disk / Hugging Face caches / Ollama, downloads from the Hugging Face Hub, mappings into other
// apps' folders and a requirements contract. A ModelLibrary is safe to use from many threads and
// from several processes over the same home at once (SQLite WAL + busy timeout, lock files).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"
#include "xervo/model_spec.h"
#include "xervo/provider.h"

namespace xervo {

struct LibraryOptions {
  // Root of the library; empty = $XERVO_HOME, else ~/.local/share/xervo.
  std::filesystem::path home;
  // Hugging Face endpoint; empty = $HF_ENDPOINT, else https://huggingface.co.
  std::string hub_endpoint;
  // Name of the environment variable holding the Hub token (never logged).
  std::string hub_token_env = "HF_TOKEN";
  // How long a Hub search answer stays in cache/hub.db.
  int hub_search_ttl_s = 3600;
  // Files of one pull downloaded at once.
  int parallel_downloads = 4;
  // Connect and idle (no byte received) timeouts of Hub requests.
  int connect_timeout_ms = 10000;
  int idle_timeout_ms = 60000;
  // Largest file a Hub listing may announce before it is refused as hostile (bytes).
  uint64_t max_file_bytes = 1ull << 40;
  // Milliseconds SQLite waits on a lock held by another process before failing.
  int busy_timeout_ms = 10000;
};

// Reads [library] settings: home, hub_endpoint, hub_token_env, hub_search_ttl_s,
// parallel_downloads, connect_timeout_ms, idle_timeout_ms, busy_timeout_ms.
Result<LibraryOptions> library_options_from_json(const nlohmann::json& settings);

enum class LibraryModelState { downloading, ready, failed };
std::string_view to_string(LibraryModelState state);
std::optional<LibraryModelState> parse_library_model_state(std::string_view name);

// One model of the library (one GGUF file). Plain value.
struct LibraryModel {
  std::string id;         // "publisher/name", stable, lowercase, [a-z0-9._-] and one '/'
  std::string publisher;  // "local", a Hub org, "ollama"
  std::string name;
  std::string format = "gguf";
  std::string architecture;       // general.architecture: "llama", "bert", ...
  std::optional<ModelTask> task;  // inferred from GGUF metadata; empty when unknown
  uint64_t parameter_count = 0;   // sum of tensor elements
  std::string quantization;       // "Q4_K_M", "F16", ... from general.file_type
  uint32_t context_length = 0;    // <arch>.context_length
  uint32_t embedding_length = 0;  // <arch>.embedding_length
  uint32_t block_count = 0;       // <arch>.block_count
  uint64_t size_bytes = 0;        // file size
  std::string sha256;             // of the whole file (hex)
  std::string source_kind;        // "import", "huggingface-cache", "ollama", "hub"
  std::string source_path;        // where it was imported from
  std::string hub_repo;           // "ORG/REPO" when pulled
  std::string hub_revision;       // commit the file came from
  std::string hub_file;           // file name inside the repo
  LibraryModelState state = LibraryModelState::ready;
  uint64_t downloaded_bytes = 0;  // progress while downloading
  std::string error;              // why state is failed
  std::vector<std::string> tags;
  std::string description;
  int64_t created_at = 0;  // unix seconds
  int64_t updated_at = 0;
  std::filesystem::path file;  // absolute path of the canonical file
};
nlohmann::json to_json(const LibraryModel& model);

enum class LibrarySort { name, size, recent, relevance };

struct LibraryQuery {
  std::string text;  // FTS5 over name, publisher, architecture, tags, description
  std::optional<ModelTask> task;
  std::string architecture;                    // exact, empty = any
  std::string quantization;                    // exact (case-insensitive), empty = any
  std::optional<uint64_t> min_size, max_size;  // bytes
  std::optional<LibraryModelState> state;
  std::string tag;                            // exact tag, empty = any
  LibrarySort sort = LibrarySort::relevance;  // relevance falls back to name without text
  int limit = 50;
  int offset = 0;
};

enum class ImportMode {
  link,  // hard link (default); copies when source and library are on different file systems
  copy,
  move,
  reference,  // keep the file where it is (Ollama blobs, HF cache blobs when linking fails)
};

struct ImportOptions {
  ImportMode mode = ImportMode::link;
  std::string publisher;          // override; default from the source ("local", HF org, "ollama")
  std::vector<std::string> tags;  // added to every imported model
};

// One input of a batch: either the model or the error for that file; the batch always continues.
struct ImportOutcome {
  std::filesystem::path source;
  std::optional<LibraryModel> model;
  std::optional<Error> error;
  bool already_present = false;  // same content was in the library: no new record
};

struct VerifyOutcome {
  std::string id;
  bool ok = false;
  std::string detail;  // "ok", "missing", "size 10 != 12", "sha256 ab.. != cd.."
};

// Download progress of one pull (all files of it together).
struct PullProgress {
  std::string file;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  double bytes_per_second = 0;
  double eta_seconds = -1;  // -1 when unknown
};
using PullProgressCallback = std::function<void(const PullProgress&)>;

// A Hub search hit.
struct HubModelInfo {
  std::string repo;  // "ORG/NAME"
  int64_t downloads = 0;
  int64_t likes = 0;
  std::vector<std::string> tags;
  std::string last_modified;
};

struct MappingStatusEntry {
  std::string mapping;
  std::filesystem::path target;  // the link in the other app's folder
  std::string model_id;
  std::string state;  // "ok", "missing", "stale" (points elsewhere), "orphan" (created by us, model gone)
};

struct MappingSyncReport {
  std::string mapping;
  int created = 0, removed = 0, unchanged = 0;
  std::vector<std::string> errors;
};

class ModelLibrary {
 public:
  // Opens (and creates or migrates) the library at options.home.
  static Result<std::shared_ptr<ModelLibrary>> open(LibraryOptions options = {});
  virtual ~ModelLibrary() = default;

  virtual const LibraryOptions& options() const = 0;

  // Index.
  virtual Result<std::vector<LibraryModel>> search(const LibraryQuery& query) = 0;
  virtual Result<LibraryModel> get(std::string_view id) = 0;
  // Sets user fields (description, tags, name, publisher is not editable) that survive re-import;
  // `overrides` is a JSON object, written to overrides.json.
  virtual Result<LibraryModel> set_overrides(std::string_view id, const nlohmann::json& overrides) = 0;
  // Removes the record and the canonical file (a referenced file outside the library is kept).
  virtual Result<void> remove(std::string_view id) = 0;
  // Re-hashes files and compares with the index; empty id = every model.
  virtual Result<std::vector<VerifyOutcome>> verify(std::string_view id = {}) = 0;

  // Import of files or folders (GGUF files, a Hugging Face cache, an Ollama models folder).
  virtual std::vector<ImportOutcome> import_paths(const std::vector<std::filesystem::path>& paths,
                                                  const ImportOptions& options = {}) = 0;

  // Hugging Face Hub. `ref` is "ORG/REPO", "ORG/REPO:QUANT" or "ORG/REPO/FILE.gguf", with an
  // optional "hf:" prefix and "@REVISION" suffix. Returns the model, downloading only what is missing.
  virtual Result<LibraryModel> pull(std::string_view ref, const PullProgressCallback& progress = {},
                                    const std::atomic<bool>* cancel = nullptr) = 0;
  virtual Result<std::vector<HubModelInfo>> hub_search(std::string_view text, int limit = 20) = 0;

  // Mappings (XERVO_HOME/mappings/*.toml): empty name = all of them.
  virtual Result<std::vector<MappingSyncReport>> map_sync(std::string_view name = {}) = 0;
  virtual Result<std::vector<MappingStatusEntry>> map_status(std::string_view name = {}) = 0;

  // Resolves "library:ID", "hf:ORG/REPO[:QUANT]" or a bare id to the file of a ready model.
  virtual Result<LibraryModel> find(std::string_view model_id) = 0;
};

// The requirements contract (contract_version 1). `platform` like "linux-x86_64" (empty = this
// machine), `backend` one of cpu, cuda, metal, vulkan (local llama.cpp), openai, gemini (remote;
// empty = cpu). Returns a JSON object:
//   { contract_version, model_id, platform, backend,
//     state: resolved | unknown_profile | invalid_profile | profile_conflict | missing_requirements,
//     groups: [ {backend, requirements: [{name, ok, detail, ...}]} ], errors: [{code, message}] }
// Anything but `resolved` means the model is not ready on that profile.
nlohmann::json resolve_model_dependency_requirements(ModelLibrary& library, std::string_view model_id,
                                                     std::string_view platform = {},
                                                     std::string_view backend = {});
// The same against the library of the default options (XERVO_HOME).
nlohmann::json resolve_model_dependency_requirements(std::string_view model_id,
                                                     std::string_view platform = {},
                                                     std::string_view backend = {});

// A ModelResolver for "library:ID" and "hf:ORG/REPO[:QUANT]" ids over the library configured by
// `library_settings` ([library] of xervo.toml). It refuses models whose requirements are not
// resolved with ErrorCode::not_ready. The library is opened on first use.
std::shared_ptr<ModelResolver> make_library_resolver(const nlohmann::json& library_settings);

}  // namespace xervo
