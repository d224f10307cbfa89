// LibraryModel as a value: state names, JSON, the id syntax, and records built from GGUF facts.
#include <algorithm>

#include "library/files.h"
#include "library/model_record.h"
#include "xervo/library.h"

namespace xervo {

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
  nlohmann::json j = {{"id", m.id},
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
  if (m.conversion) j["conversion"] = library::conversion_json(*m.conversion);
  return j;
}

bool is_library_id(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || text.find('/', slash + 1) != std::string_view::npos) return false;
  auto part_ok = [](std::string_view p) {
    if (p.empty() || p.size() > 120 || p.front() == '.' || p.front() == '-') return false;
    return std::all_of(p.begin(), p.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    });
  };
  return part_ok(text.substr(0, slash)) && part_ok(text.substr(slash + 1)) && !text.ends_with(".gguf") &&
         !text.ends_with(".bin");
}

namespace library {

void apply_gguf_facts(LibraryModel& model, const GgufInfo& info, const std::vector<std::string>& extra_tags) {
  model.format = info.format;
  model.architecture = info.architecture;
  model.task = info.task;
  model.parameter_count = info.parameter_count;
  model.quantization = info.quantization;
  model.context_length = info.context_length;
  model.embedding_length = info.embedding_length;
  model.block_count = info.block_count;
  model.size_bytes = info.file_size;
  model.description = info.description;
  model.tags.clear();
  for (const auto& t : info.tags) model.tags.push_back(normalize_name(t));
  for (const auto& t : extra_tags)
    if (std::find(model.tags.begin(), model.tags.end(), t) == model.tags.end()) model.tags.push_back(t);
  if (info.conversion) {
    ModelConversion c = *info.conversion;
    if (model.conversion) {
      c.converted_at = model.conversion->converted_at;
      c.checkpoint = model.conversion->checkpoint;
    }
    model.conversion = std::move(c);
  } else {
    model.conversion.reset();  // the file is not (or no longer) a conversion
  }
  model.state = LibraryModelState::ready;
  model.error.clear();
  model.downloaded_bytes = model.size_bytes;
}

nlohmann::json conversion_json(const ModelConversion& c) {
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& s : c.sources) sources.push_back({{"path", s.path}, {"sha256", s.sha256}});
  return {{"tool", c.tool},
          {"output_type", c.output_type},
          {"converted_at", c.converted_at},
          {"checkpoint", c.checkpoint},
          {"sources", sources}};
}

namespace {

std::string bounded_text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>().substr(0, kMaxConversionText);
}

}  // namespace

std::optional<ModelConversion> conversion_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  ModelConversion c;
  c.tool = bounded_text(j, "tool");
  c.output_type = bounded_text(j, "output_type");
  c.checkpoint = bounded_text(j, "checkpoint");
  if (auto it = j.find("converted_at"); it != j.end() && it->is_number_integer())
    c.converted_at = std::max<int64_t>(0, it->get<int64_t>());
  if (auto it = j.find("sources"); it != j.end() && it->is_array())
    for (const auto& s : *it) {
      if (c.sources.size() >= kMaxConversionSources) break;
      if (s.is_object()) c.sources.push_back({bounded_text(s, "path"), bounded_text(s, "sha256")});
    }
  return c;
}

nlohmann::json model_metadata_json(const LibraryModel& model, const std::filesystem::path& dir) {
  auto j = to_json(model);
  j["metadata_version"] = 1;
  // State and progress are facts of the index; metadata.json only describes a complete file.
  j.erase("state");
  j.erase("downloaded_bytes");
  j.erase("error");
  j.erase("file");
  if (!model.file.empty() && model.file.parent_path() != dir) j["external_file"] = model.file.string();
  return j;
}

}  // namespace library
}  // namespace xervo
