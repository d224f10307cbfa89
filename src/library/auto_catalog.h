// The catalog behind `model = "auto"`: per task, candidate models (a Hub reference, quantization,
// file size, estimated memory need, quality tier, licence). The shipped catalog is
// catalog/auto-models.json, compiled in; an operator or a test names another file. Every catalog is
// hostile input: parse_auto_catalog checks each field and names the one that is wrong. Stateless.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"
#include "xervo/model_spec.h"

namespace xervo::library {

// The catalog format this xervo reads ("version" of the file).
inline constexpr int kAutoCatalogVersion = 1;
// Largest catalog file read (bytes), entries per task, and the largest size an entry may announce.
inline constexpr uint64_t kAutoCatalogMaxFileBytes = 1u << 20;
inline constexpr size_t kAutoCatalogMaxEntries = 256;
inline constexpr uint64_t kAutoCatalogMaxBytes = 1ull << 40;

struct AutoCatalogEntry {
  std::string model;          // "hf:ORG/REPO:QUANT" (or "hf:ORG/REPO/FILE.gguf"), checked by parse_hub_ref
  std::string name;           // what to show; defaults to the repository name
  std::string quantization;   // "Q4_K_M", "Q8_0", "F16"
  uint64_t file_bytes = 0;    // size of the GGUF file
  uint64_t memory_bytes = 0;  // memory a load takes (weights + KV cache + buffers), >= file_bytes
  int tier = 1;               // quality, 1 (lowest) to 100; higher is preferred
  std::string license;        // SPDX id or the licence's name ("apache-2.0", "mit", "qwen-research")
  std::vector<std::string> cpu_features;  // /proc/cpuinfo flags the entry needs ("avx2"); usually none
  std::string sha256;                     // of the file, when known: an imported copy counts as present
  bool sizes_approximate = false;         // file_bytes and memory_bytes are rounded figures
};

struct AutoCatalog {
  int version = kAutoCatalogVersion;
  std::string name;    // "xervo-auto-2026.12"
  std::string source;  // the file it was read from, or "built-in"
  std::map<ModelTask, std::vector<AutoCatalogEntry>> tasks;

  const std::vector<AutoCatalogEntry>& entries(ModelTask task) const;
};

// Parses and checks a catalog: config_invalid "SOURCE: tasks.embed[2].memory_bytes: ..." for bad
// JSON, a missing or mistyped field, an unknown key, sizes out of range or a bad Hub reference.
Result<AutoCatalog> parse_auto_catalog(std::string_view text, std::string_view source);
// Reads and parses a catalog file (at most kAutoCatalogMaxFileBytes).
Result<AutoCatalog> load_auto_catalog(const std::filesystem::path& path);
// The catalog shipped in the repository (catalog/auto-models.json, compiled in).
Result<AutoCatalog> builtin_auto_catalog();

// The catalog to use: `path` when not empty, else `auto_catalog` of [library] (`library_settings`,
// relative to the config file's folder), else $XERVO_AUTO_CATALOG, else the built-in one.
Result<AutoCatalog> find_auto_catalog(const std::filesystem::path& path,
                                      const nlohmann::json& library_settings,
                                      const std::filesystem::path& config_file);

nlohmann::json to_json(const AutoCatalogEntry& entry);

}  // namespace xervo::library
