// Mappings expose library models inside other applications' folders (LM Studio, a llama.cpp model
// dir, ...) as links or copies, described by XERVO_HOME/mappings/NAME.toml:
//   target = "/home/me/.lmstudio/models"  # folder of the other app (required)
//   pattern = "{publisher}/{name}.gguf"    # placeholders: publisher name id quantization architecture task
//   strategy = "symlink"                   # symlink (default) | hardlink | copy
//   [filter]                               # optional: task = "embed", architecture = "bert", tags = ["work"]
//                                          # (whisper.cpp files only with task = "transcribe" or
//                                          # architecture = "whisper")
// Every entry created is recorded in NAME.manifest.json; sync never touches anything else. An
// unknown key or a wrong type is an error naming the file, line and key.
// Stateless functions; one sync of a mapping runs at a time (a lock file, across processes).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"
#include "xervo/library.h"

namespace xervo::library {

enum class LinkStrategy { symlink, hardlink, copy };

struct MappingConfig {
  std::string name;
  std::filesystem::path target;
  std::string pattern = "{publisher}/{name}.gguf";
  LinkStrategy strategy = LinkStrategy::symlink;
  std::optional<ModelTask> task;
  std::string architecture;
  std::vector<std::string> tags;  // all must be present
};

Result<MappingConfig> load_mapping(const std::filesystem::path& toml_file);
bool mapping_matches(const MappingConfig& mapping, const LibraryModel& model);
// The relative path of `model` under the target; invalid_input when the pattern would leave it.
Result<std::filesystem::path> render_mapping_path(const MappingConfig& mapping, const LibraryModel& model);

Result<MappingSyncReport> sync_mapping(const MappingConfig& mapping,
                                       const std::filesystem::path& manifest_file,
                                       const std::vector<LibraryModel>& models);
Result<std::vector<MappingStatusEntry>> mapping_status(const MappingConfig& mapping,
                                                       const std::filesystem::path& manifest_file,
                                                       const std::vector<LibraryModel>& models);

// Every mapping of `dir` (NAME.toml), or only `name` (config_invalid when there is none).
Result<std::vector<MappingSyncReport>> sync_mappings(const std::filesystem::path& dir, std::string_view name,
                                                     const std::vector<LibraryModel>& models);
Result<std::vector<MappingStatusEntry>> mapping_statuses(const std::filesystem::path& dir,
                                                         std::string_view name,
                                                         const std::vector<LibraryModel>& models);

}  // namespace xervo::library
