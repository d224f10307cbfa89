#include "providers/plugin/plugin_loader.h"

#include <algorithm>
#include <cstdlib>

#include "core/log.h"
#include "providers/plugin/plugin_provider.h"

namespace xervo {
namespace {

// The key under which parse_config keeps [plugins] among the provider tables; no plugin may take it.
constexpr const char* kReservedId = "plugins";

std::vector<std::filesystem::path> libraries_in(const std::filesystem::path& path,
                                                std::vector<Error>& errors) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return {path};
  if (!std::filesystem::is_directory(path, ec)) {
    errors.emplace_back(ErrorCode::config_invalid,
                        "plugin path " + path.string() + ": no such file or folder");
    return {};
  }
  std::vector<std::filesystem::path> out;
  for (std::filesystem::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& p = it->path();
    if (p.extension() == ".so" && it->is_regular_file(ec)) out.push_back(p);
  }
  if (ec) errors.emplace_back(ErrorCode::io_error, "plugin path " + path.string() + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::filesystem::path> plugin_search_paths(const nlohmann::json& plugins_section) {
  std::vector<std::filesystem::path> out;
  if (plugins_section.is_object())
    if (auto it = plugins_section.find("paths"); it != plugins_section.end() && it->is_array())
      for (const auto& p : *it)
        if (p.is_string()) out.emplace_back(p.get<std::string>());
  if (const char* env = std::getenv("XERVO_PLUGIN_PATH"); env && *env) {
    std::string_view rest(env);
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      const auto part = rest.substr(0, colon);
      if (!part.empty()) out.emplace_back(std::string(part));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  return out;
}

PluginLoadReport load_plugins(const std::vector<std::filesystem::path>& paths,
                              std::set<std::string>& taken_ids) {
  PluginLoadReport report;
  std::set<std::filesystem::path> seen;
  for (const auto& path : paths) {
    for (const auto& file : libraries_in(path, report.errors)) {
      std::error_code ec;
      auto canonical = std::filesystem::weakly_canonical(file, ec);
      if (ec) canonical = file;
      if (!seen.insert(canonical).second) continue;
      auto library = open_plugin_library(file);
      if (!library.ok()) {
        report.errors.push_back(library.error());
        continue;
      }
      const auto& id = (*library)->id;
      if (id == kReservedId || taken_ids.count(id)) {
        report.errors.emplace_back(
            ErrorCode::model_load_failed,
            "plugin " + file.string() + ": provider id '" + id +
                "' is taken (by a built-in provider or an earlier plugin); give it another id");
        continue;
      }
      taken_ids.insert(id);
      report.loaded.push_back(std::move(*library));
    }
  }
  return report;
}

PluginLoadReport add_plugin_providers(RuntimeBuilder& builder, const nlohmann::json& plugins_section,
                                      std::set<std::string> taken_ids) {
  auto report = load_plugins(plugin_search_paths(plugins_section), taken_ids);
  for (const auto& error : report.errors) spdlog::error("{}", error.message());
  for (const auto& library : report.loaded) {
    spdlog::info("plugin {}: provider '{}' {}", library->path.string(), library->id, library->version);
    builder.add_provider(make_plugin_provider(library, builder.provider_settings(library->id)));
  }
  return report;
}

}  // namespace xervo
