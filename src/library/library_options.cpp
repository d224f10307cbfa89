// [library] of xervo.toml -> LibraryOptions. Strict like the rest of the config: an unknown key or
// a wrong type is an error naming the key, and the file and line when the file is known.
#include <toml++/toml.h>

#include <array>
#include <limits>
#include <string>

#include "xervo/library.h"

namespace xervo {
namespace fs = std::filesystem;

namespace {

constexpr std::array kKnownKeys = {"home",
                                   "hub_endpoint",
                                   "hub_token_env",
                                   "hub_search_ttl_s",
                                   "parallel_downloads",
                                   "connect_timeout_ms",
                                   "idle_timeout_ms",
                                   "busy_timeout_ms",
                                   "max_file_bytes",
                                   "backend",
                                   "read_only",
                                   "auto_catalog"};

std::string known_keys() {
  std::string out;
  for (const char* k : kKnownKeys) out += (out.empty() ? "" : ", ") + std::string(k);
  return out;
}

// "xervo.toml:7: library.key: what", or "[library] key: what" without a file. The line comes from
// the file itself: the settings arrive as JSON, which keeps none.
Error option_error(const fs::path& config_file, const std::string& key, const std::string& what) {
  if (config_file.empty()) return Error(ErrorCode::config_invalid, "[library] " + key + ": " + what);
  std::string where = config_file.string();
  try {
    toml::table root = toml::parse_file(config_file.string());
    if (const toml::node* node = root["library"][key].node(); node && node->source().begin.line)
      where += ":" + std::to_string(node->source().begin.line);
  } catch (const toml::parse_error&) {
    // The file changed since it was read: name it without a line.
  }
  return Error(ErrorCode::config_invalid, where + ": library." + key + ": " + what);
}

}  // namespace

Result<LibraryOptions> library_options_from_json(const nlohmann::json& s, const fs::path& config_file) {
  LibraryOptions o;
  if (s.is_null()) return o;
  if (!s.is_object()) return Error(ErrorCode::config_invalid, "[library] must be a table");
  for (const auto& [key, value] : s.items()) {
    bool known = false;
    for (const char* k : kKnownKeys) known = known || key == k;
    if (!known) return option_error(config_file, key, "unknown key (expected " + known_keys() + ")");
    auto text = [&](std::string& field) -> std::optional<Error> {
      if (!value.is_string()) return option_error(config_file, key, "must be a string");
      field = value.get<std::string>();
      return std::nullopt;
    };
    auto integer = [&](auto& field, int64_t min, int64_t max) -> std::optional<Error> {
      if (!value.is_number_integer() || value.get<int64_t>() < min || value.get<int64_t>() > max)
        return option_error(config_file, key,
                            "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
      field = static_cast<std::decay_t<decltype(field)>>(value.get<int64_t>());
      return std::nullopt;
    };
    constexpr int64_t kMaxInt = std::numeric_limits<int>::max();
    std::optional<Error> error;
    std::string home, backend;
    if (key == "home") {
      error = text(home);
      o.home = home;
    } else if (key == "read_only") {  // a library on shared storage (docs/server/scale-out.md)
      if (!value.is_boolean())
        error = option_error(config_file, key, "must be true or false");
      else
        o.read_only = value.get<bool>();
    } else if (key == "hub_endpoint") {
      error = text(o.hub_endpoint);
    } else if (key == "hub_token_env") {
      error = text(o.hub_token_env);
    } else if (key == "backend") {
      error = text(backend);  // read by make_library_resolver
    } else if (key == "auto_catalog") {  // read by make_library_resolver (auto_catalog.h)
      std::string catalog;
      error = text(catalog);
    } else if (key == "hub_search_ttl_s") {
      error = integer(o.hub_search_ttl_s, -1, kMaxInt);
    } else if (key == "parallel_downloads") {
      error = integer(o.parallel_downloads, 1, 32);
    } else if (key == "connect_timeout_ms") {
      error = integer(o.connect_timeout_ms, 1, kMaxInt);
    } else if (key == "idle_timeout_ms") {
      error = integer(o.idle_timeout_ms, 1, kMaxInt);
    } else if (key == "busy_timeout_ms") {
      error = integer(o.busy_timeout_ms, 0, kMaxInt);
    } else if (key == "max_file_bytes") {
      error = integer(o.max_file_bytes, 1, std::numeric_limits<int64_t>::max());
    }
    if (error) return *error;
  }
  return o;
}

}  // namespace xervo
