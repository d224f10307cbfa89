#include "library/auto_catalog.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>

#include "library/hub_ref.h"

namespace xervo::library {

std::string_view builtin_auto_catalog_text();  // auto_catalog_data.cpp, generated

namespace {

namespace fs = std::filesystem;

// Collects the path of the field being read so that every error names it.
class Checker {
 public:
  explicit Checker(std::string source) : source_(std::move(source)) {}

  Error fail(const std::string& path, const std::string& what) const {
    return Error(ErrorCode::config_invalid, "auto catalog " + source_ + ": " + path + ": " + what);
  }

  std::optional<Error> unknown_keys(const nlohmann::json& object, const std::string& path,
                                    const std::vector<std::string_view>& known) const {
    for (const auto& [key, value] : object.items()) {
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      return fail(path.empty() ? key : path + "." + key, "unknown key (known keys: " + list + ")");
    }
    return std::nullopt;
  }

 private:
  std::string source_;
};

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}

bool token_chars(std::string_view s, bool upper_ok) {
  return std::all_of(s.begin(), s.end(), [upper_ok](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
           (upper_ok && c >= 'A' && c <= 'Z');
  });
}

// A string field: required or optional, at most `max` printable characters.
// `path` is the entry's ("tasks.embed[0]"), or "" for a top-level field.
std::optional<Error> read_text(const Checker& check, const nlohmann::json& entry, const std::string& path,
                               const char* key, bool required, size_t max, std::string& out) {
  const std::string field = path.empty() ? std::string(key) : path + "." + key;
  auto it = entry.find(key);
  if (it == entry.end()) return required ? std::optional(check.fail(field, "missing")) : std::nullopt;
  if (!it->is_string()) return check.fail(field, "must be a string");
  out = it->get<std::string>();
  if (required && out.empty()) return check.fail(field, "must not be empty");
  if (out.size() > max || !printable(out))
    return check.fail(field, "must be at most " + std::to_string(max) + " printable characters");
  return std::nullopt;
}

// A byte count: an integer from 1 to kAutoCatalogMaxBytes (negative, fractional and huge values are refused).
std::optional<Error> read_bytes(const Checker& check, const nlohmann::json& entry, const std::string& path,
                                const char* key, uint64_t& out) {
  auto it = entry.find(key);
  if (it == entry.end()) return check.fail(path + "." + key, "missing");
  const std::string range =
      "must be a whole number of bytes from 1 to " + std::to_string(kAutoCatalogMaxBytes);
  if (!it->is_number_integer()) return check.fail(path + "." + key, range);
  if (it->is_number_unsigned()) {
    out = it->get<uint64_t>();
  } else {
    int64_t v = it->get<int64_t>();
    if (v < 1) return check.fail(path + "." + key, range);
    out = static_cast<uint64_t>(v);
  }
  if (out < 1 || out > kAutoCatalogMaxBytes) return check.fail(path + "." + key, range);
  return std::nullopt;
}

Result<AutoCatalogEntry> parse_entry(const Checker& check, const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) return check.fail(path, "must be an object");
  if (auto e = check.unknown_keys(j, path,
                                  {"model", "name", "quantization", "file_bytes", "memory_bytes", "tier",
                                   "license", "cpu_features", "sha256", "sizes_approximate"}))
    return *e;
  AutoCatalogEntry entry;
  if (auto e = read_text(check, j, path, "model", true, 300, entry.model)) return *e;
  if (!entry.model.starts_with("hf:"))
    return check.fail(path + ".model", "'" + entry.model + "' is not a Hub reference: use hf:ORG/REPO:QUANT");
  if (entry.model.find("..") != std::string::npos || entry.model.find('\\') != std::string::npos)
    return check.fail(path + ".model", "'" + entry.model + "' may not contain '..' or '\\'");
  auto ref = parse_hub_ref(entry.model);
  if (!ref) return check.fail(path + ".model", ref.error().message());
  if (auto e = read_text(check, j, path, "name", false, 200, entry.name)) return *e;
  if (entry.name.empty()) entry.name = ref->repo.substr(ref->repo.find('/') + 1);
  if (auto e = read_text(check, j, path, "quantization", true, 32, entry.quantization)) return *e;
  if (!token_chars(entry.quantization, true))
    return check.fail(path + ".quantization", "must be letters, digits and '_' (\"Q4_K_M\")");
  if (auto e = read_bytes(check, j, path, "file_bytes", entry.file_bytes)) return *e;
  if (auto e = read_bytes(check, j, path, "memory_bytes", entry.memory_bytes)) return *e;
  if (entry.memory_bytes < entry.file_bytes)
    return check.fail(path + ".memory_bytes", "must be at least file_bytes (the weights are read in full)");
  auto tier = j.find("tier");
  if (tier == j.end()) return check.fail(path + ".tier", "missing");
  if (!tier->is_number_integer() || tier->get<int64_t>() < 1 || tier->get<int64_t>() > 100)
    return check.fail(path + ".tier", "must be a whole number from 1 (lowest quality) to 100");
  entry.tier = tier->get<int>();
  if (auto e = read_text(check, j, path, "license", true, 64, entry.license)) return *e;
  if (auto it = j.find("cpu_features"); it != j.end()) {
    if (!it->is_array() || it->size() > 16)
      return check.fail(path + ".cpu_features", "must be a list of at most 16 CPU flags");
    for (const auto& f : *it) {
      if (!f.is_string() || f.get<std::string>().empty() || f.get<std::string>().size() > 32 ||
          !token_chars(f.get<std::string>(), false))
        return check.fail(path + ".cpu_features",
                          "each must be a lower-case CPU flag as /proc/cpuinfo names it");
      entry.cpu_features.push_back(f.get<std::string>());
    }
  }
  if (auto e = read_text(check, j, path, "sha256", false, 64, entry.sha256)) return *e;
  if (!entry.sha256.empty() && !is_sha256_hex(entry.sha256))
    return check.fail(path + ".sha256", "must be 64 hex digits");
  std::transform(entry.sha256.begin(), entry.sha256.end(), entry.sha256.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (auto it = j.find("sizes_approximate"); it != j.end()) {
    if (!it->is_boolean()) return check.fail(path + ".sizes_approximate", "must be true or false");
    entry.sizes_approximate = it->get<bool>();
  }
  return entry;
}

}  // namespace

const std::vector<AutoCatalogEntry>& AutoCatalog::entries(ModelTask task) const {
  static const std::vector<AutoCatalogEntry> none;
  auto it = tasks.find(task);
  return it == tasks.end() ? none : it->second;
}

Result<AutoCatalog> parse_auto_catalog(std::string_view text, std::string_view source) {
  Checker check{std::string(source)};
  if (text.size() > kAutoCatalogMaxFileBytes)
    return check.fail("(file)", "larger than " + std::to_string(kAutoCatalogMaxFileBytes) + " bytes");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return check.fail("(file)", "not valid JSON");
  if (!j.is_object()) return check.fail("(file)", "must be a JSON object");
  if (auto e = check.unknown_keys(j, "", {"version", "name", "note", "tasks"})) return *e;
  auto version = j.find("version");
  if (version == j.end()) return check.fail("version", "missing");
  if (!version->is_number_integer() || version->get<int64_t>() != kAutoCatalogVersion)
    return check.fail("version", "this xervo reads catalog version " + std::to_string(kAutoCatalogVersion) +
                                     ", not " + version->dump());
  AutoCatalog catalog;
  catalog.source = std::string(source);
  std::string note;
  if (auto e = read_text(check, j, "", "name", false, 200, catalog.name)) return *e;
  if (auto e = read_text(check, j, "", "note", false, 4000, note)) return *e;
  auto tasks = j.find("tasks");
  if (tasks == j.end()) return check.fail("tasks", "missing");
  if (!tasks->is_object()) return check.fail("tasks", "must be an object of task -> list of models");
  for (const auto& [name, list] : tasks->items()) {
    const std::string path = "tasks." + name;
    auto task = parse_model_task(name);
    if (!task) return check.fail(path, "unknown task (embed, rerank, generate or transcribe)");
    if (!list.is_array()) return check.fail(path, "must be a list of models");
    if (list.size() > kAutoCatalogMaxEntries)
      return check.fail(path, "more than " + std::to_string(kAutoCatalogMaxEntries) + " models");
    auto& entries = catalog.tasks[*task];
    std::set<std::string> seen;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string at = path + "[" + std::to_string(i) + "]";
      auto entry = parse_entry(check, list[i], at);
      if (!entry) return entry.error();
      if (!seen.insert(entry->model).second)
        return check.fail(at + ".model", entry->model + " is listed twice");
      entries.push_back(std::move(*entry));
    }
  }
  return catalog;
}

Result<AutoCatalog> load_auto_catalog(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return Error(ErrorCode::config_invalid, "auto catalog " + path.string() + ": no such file");
  auto size = fs::file_size(path, ec);
  if (ec || size > kAutoCatalogMaxFileBytes)
    return Error(ErrorCode::config_invalid, "auto catalog " + path.string() + ": larger than " +
                                                std::to_string(kAutoCatalogMaxFileBytes) + " bytes");
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<size_t>(size), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(size)))
    return Error(ErrorCode::io_error, "auto catalog " + path.string() + ": cannot read it");
  return parse_auto_catalog(text, path.string());
}

Result<AutoCatalog> builtin_auto_catalog() {
  return parse_auto_catalog(builtin_auto_catalog_text(), "built-in");
}

Result<AutoCatalog> find_auto_catalog(const fs::path& path, const nlohmann::json& library_settings,
                                      const fs::path& config_file) {
  if (!path.empty()) return load_auto_catalog(path);
  if (library_settings.is_object()) {
    if (auto it = library_settings.find("auto_catalog"); it != library_settings.end()) {
      if (!it->is_string() || it->get<std::string>().empty())
        return Error(ErrorCode::config_invalid, "library.auto_catalog: must be the path of a catalog file");
      fs::path file = it->get<std::string>();
      if (file.is_relative() && !config_file.empty()) file = config_file.parent_path() / file;
      return load_auto_catalog(file);
    }
  }
  if (const char* env = std::getenv("XERVO_AUTO_CATALOG"); env && *env) return load_auto_catalog(env);
  return builtin_auto_catalog();
}

nlohmann::json to_json(const AutoCatalogEntry& entry) {
  return {{"model", entry.model},
          {"name", entry.name},
          {"quantization", entry.quantization},
          {"file_bytes", entry.file_bytes},
          {"memory_bytes", entry.memory_bytes},
          {"tier", entry.tier},
          {"license", entry.license},
          {"cpu_features", entry.cpu_features},
          {"sizes_approximate", entry.sizes_approximate}};
}

}  // namespace xervo::library
