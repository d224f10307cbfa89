#include "library/overrides.h"

#include "library/files.h"

namespace xervo::library {
namespace fs = std::filesystem;

Result<LibraryModel> apply_overrides(LibraryModel model, const fs::path& dir) {
  fs::path path = dir / "overrides.json";
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

Result<void> check_overrides(const nlohmann::json& overrides) {
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
  return {};
}

Result<void> merge_overrides(const fs::path& dir, const nlohmann::json& overrides) {
  fs::path path = dir / "overrides.json";
  nlohmann::json merged = nlohmann::json::object();
  if (auto text = read_file(path); text) {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_object()) merged = j;
  }
  merged.update(overrides);
  return write_file_atomic(path, merged.dump(2));
}

}  // namespace xervo::library
