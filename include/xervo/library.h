// The model library: GGUF files under XERVO_HOME with a searchable SQLite index, imports from
// disk / Hugging Face caches / Ollama, downloads from the Hugging Face Hub, mappings into other
// apps' folders and a requirements contract. A ModelLibrary is safe to use from many threads and
// from several processes over the same home at once (SQLite WAL + busy timeout, lock files).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
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
  // Open for reading only: no recovery, no migration, and every write fails with io_error. open()
  // sets it by itself when the home or its index is not writable.
  bool read_only = false;
};

// Reads [library] settings: home, hub_endpoint, hub_token_env, hub_search_ttl_s,
// parallel_downloads, connect_timeout_ms, idle_timeout_ms, busy_timeout_ms, max_file_bytes,
// backend and auto_catalog (both read by the resolver). An unknown key or a wrong type is config_invalid
// naming the key; with the config file it came from, also the file and line ("xervo.toml:7: library.x: ...").
Result<LibraryOptions> library_options_from_json(const nlohmann::json& settings,
                                                 const std::filesystem::path& config_file = {});

enum class LibraryModelState { downloading, ready, failed };
std::string_view to_string(LibraryModelState state);
std::optional<LibraryModelState> parse_library_model_state(std::string_view name);

// One file a converted model was made from: its path inside the checkpoint folder ("config.json",
// "1_Pooling/config.json") and its sha256 (hex) when it was read.
struct ConversionSource {
  std::string path;
  std::string sha256;
};

// How a model was made by conversion (`xervo models convert`, or `xervo models import` of a
// checkpoint folder). Tool, output type and sources come from the GGUF's own xervo.conversion.*
// keys, so they travel with the file; the date and the checkpoint folder are the library's record.
struct ModelConversion {
  std::string tool;                       // xervo.conversion.tool: "xervo models convert (hfconvert 1)"
  std::string output_type;                // xervo.conversion.type: "f32", "f16", "q8_0"
  int64_t converted_at = 0;               // unix seconds; 0 when unknown (see docs/library.md)
  std::string checkpoint;                 // the folder converted; empty for a GGUF converted elsewhere
  std::vector<ConversionSource> sources;  // xervo.conversion.sources, in the converter's order
};

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
  std::filesystem::path file;                 // absolute path of the canonical file
  std::optional<ModelConversion> conversion;  // set when the file is a conversion (GGUF keys say so)
};
// "conversion" is present only for a model made by conversion.
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
  link,  // hard link (default); copies when source and library are on different file systems,
         // except Ollama and Hugging Face cache blobs, which are then referenced in place
  copy,
  move,       // same file system: renamed into the library (a crash never loses it); else copied
  reference,  // keep the file where it is
};

struct ImportOptions {
  ImportMode mode = ImportMode::link;
  std::string publisher;          // override; default from the source ("local", HF org, "ollama")
  std::vector<std::string> tags;  // added to every imported model
  // Set by a caller that has just converted a checkpoint folder into the file(s) it imports: the
  // folder becomes the record's source path and conversion checkpoint, and `converted_at` (unix
  // seconds) the conversion's date. Without them a converted GGUF's date is its modification time.
  std::filesystem::path converted_from;
  int64_t converted_at = 0;
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

// What ModelLibrary::reindex found in models/.
struct ReindexReport {
  int indexed = 0;
  struct Skipped {
    std::filesystem::path folder;
    std::string reason;  // "no model file", "interrupted download (pull again to resume)", ...
  };
  std::vector<Skipped> skipped;
};

class ModelLibrary {
 public:
  // Opens (and creates or migrates) the library at options.home, read-only when it is not writable.
  // An index that is missing or empty (0 bytes) while models/ holds models is an error that says to
  // run reindex, never an empty library.
  static Result<std::shared_ptr<ModelLibrary>> open(LibraryOptions options = {});
  // Rebuilds models.db from the folders under models/ (metadata.json, overrides.json, the files):
  // the new index is built beside the old one and renamed over it. Run it while no other xervo
  // process uses the home.
  static Result<ReindexReport> reindex(LibraryOptions options = {});
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
  // Whether the model's file still holds the recorded bytes: trusts the last hash (verified.json)
  // while the file's inode, size and mtime are unchanged, re-hashes otherwise.
  virtual Result<bool> file_matches_record(const LibraryModel& model) = 0;

  // Import of files or folders (GGUF files, a Hugging Face cache, an Ollama models folder).
  virtual std::vector<ImportOutcome> import_paths(const std::vector<std::filesystem::path>& paths,
                                                  const ImportOptions& options = {}) = 0;

  // Hugging Face Hub. `ref` is "ORG/REPO", "ORG/REPO:QUANT" or "ORG/REPO/FILE.gguf", with an
  // optional "hf:" prefix and "@REVISION" suffix. Returns the model, downloading only what is missing.
  // `progress` runs on the calling thread. A stop request ends the pull with cancelled and keeps
  // what was downloaded for the next pull to resume; so does a failure, whose message says so.
  virtual Result<LibraryModel> pull(std::string_view ref, const PullProgressCallback& progress = {},
                                    std::stop_token stop = {}) = 0;
  virtual Result<std::vector<HubModelInfo>> hub_search(std::string_view text, int limit = 20) = 0;

  // Mappings (XERVO_HOME/mappings/*.toml): empty name = all of them.
  virtual Result<std::vector<MappingSyncReport>> map_sync(std::string_view name = {}) = 0;
  virtual Result<std::vector<MappingStatusEntry>> map_status(std::string_view name = {}) = 0;

  // Resolves "library:ID", "hf:ORG/REPO[:QUANT]" or a bare id to the model (any state).
  virtual Result<LibraryModel> find(std::string_view model_id) = 0;
};

// True for text shaped like a library id: "publisher/name", lowercase [a-z0-9._-], not ending
// in .gguf or .bin (so "local/bge-small" is an id and "models/bge.gguf" a path).
bool is_library_id(std::string_view text);

// The profile a requirements check is for.
struct RequirementsQuery {
  std::string platform;  // "linux-x86_64"; empty = this machine
  std::string backend;   // cpu (default), cuda, metal, vulkan, openai, gemini
  // [providers.<backend>] of xervo.toml for remote backends: api_key_env and base_url are honoured
  // as the provider itself reads them.
  nlohmann::json provider_settings = nlohmann::json::object();
};

// The requirements contract (contract_version 1). `platform` like "linux-x86_64" (empty = this
// machine), `backend` one of cpu, cuda, metal, vulkan (local llama.cpp), openai, gemini (remote;
// empty = cpu). Returns a JSON object:
//   { contract_version, model_id, platform, backend,
//     state: resolved | unknown_profile | invalid_profile | profile_conflict | missing_requirements,
//     groups: [ {backend, requirements: [{name, ok, detail, ...}]} ], errors: [{code, message}] }
// Anything but `resolved` means the model is not ready on that profile.
nlohmann::json resolve_model_dependency_requirements(ModelLibrary& library, std::string_view model_id,
                                                     const RequirementsQuery& query);
nlohmann::json resolve_model_dependency_requirements(ModelLibrary& library, std::string_view model_id,
                                                     std::string_view platform = {},
                                                     std::string_view backend = {});
// The same against the library of the default options (XERVO_HOME).
nlohmann::json resolve_model_dependency_requirements(std::string_view model_id,
                                                     std::string_view platform = {},
                                                     std::string_view backend = {});

// A ModelResolver for "library:ID", "hf:ORG/REPO[:QUANT]" and bare library ids ("local/bge", as
// `xervo models list` prints them) over the library configured by `library_settings` ([library]
// of xervo.toml). A bare id is claimed only when the library has it, so aliases (resolved before
// any provider) win, and a path of the same shape is left to the provider. It refuses models
// whose requirements are not resolved with ErrorCode::not_ready. The library is opened on first use.
// `config_file` (where the settings came from) lets errors name its file and line.
//
// It also resolves "auto:TASK" (what the runtime makes of `model = "auto"`): the best model of the
// auto catalog that fits this machine (docs/auto-model.md), the library's copy when it has one, else
// pulled from the Hub on first use. `auto_context` tells it the memory budget and the devices.
struct AutoModelContext {
  uint64_t memory_budget = 0;  // [runtime] memory_budget in bytes; 0: no budget (free memory alone limits)
  std::function<std::vector<ComputeDevice>()> devices;  // the local engines' devices; null: CPU only
};
std::shared_ptr<ModelResolver> make_library_resolver(const nlohmann::json& library_settings,
                                                     const std::filesystem::path& config_file = {},
                                                     AutoModelContext auto_context = {});

}  // namespace xervo
