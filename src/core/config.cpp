#include "xervo/config.h"

#include <toml++/toml.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include "core/cache_config.h"
#include "core/config_path.h"

namespace xervo {
namespace {

// Errors carry "file:line: key: what"; parse_error is thrown inside and caught in parse_config.
struct ConfigError {
  std::string message;
};

[[noreturn]] void fail(std::string_view source, const toml::node& node, const std::string& key,
                       const std::string& what) {
  std::string loc(source);
  if (node.source().begin.line) loc += ":" + std::to_string(node.source().begin.line);
  throw ConfigError{loc + ": " + key + ": " + what};
}

nlohmann::json to_json(const toml::node& node) {
  if (auto* t = node.as_table()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : *t) out[std::string(k.str())] = to_json(v);
    return out;
  }
  if (auto* a = node.as_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : *a) out.push_back(to_json(v));
    return out;
  }
  if (auto* s = node.as_string()) return s->get();
  if (auto* i = node.as_integer()) return i->get();
  if (auto* f = node.as_floating_point()) return f->get();
  if (auto* b = node.as_boolean()) return b->get();
  std::ostringstream os;  // dates and times: keep their TOML text
  if (auto* d = node.as_date()) os << d->get();
  if (auto* t = node.as_time()) os << t->get();
  if (auto* dt = node.as_date_time()) os << dt->get();
  return os.str();
}

std::string require_string(std::string_view source, const toml::table& table, const std::string& prefix,
                           const char* key, bool required) {
  const toml::node* node = table.get(key);
  if (!node) {
    if (required) fail(source, table, prefix + "." + key, "missing (required)");
    return {};
  }
  auto* s = node->as_string();
  if (!s) fail(source, *node, prefix + "." + key, "must be a string");
  return s->get();
}

ModelSpec parse_model(std::string_view source, const std::string& alias, const toml::node& node) {
  const std::string prefix = "models.\"" + alias + "\"";
  const auto* table = node.as_table();
  if (!table) fail(source, node, prefix, "must be a table");
  static const char* kKnown[] = {"task",    "provider",   "model",     "revision",
                                 "options", "warmup",     "fallbacks", "fallback_on_any_error",
                                 "pin",     "keep_alive", "cache"};
  for (const auto& [k, v] : *table) {
    bool known = false;
    for (const char* name : kKnown) known = known || k.str() == name;
    if (!known) fail(source, v, prefix + "." + std::string(k.str()), "unknown key");
  }
  ModelSpec spec;
  spec.alias = alias;
  std::string task = require_string(source, *table, prefix, "task", true);
  auto parsed_task = parse_model_task(task);
  if (!parsed_task)
    fail(source, *table->get("task"), prefix + ".task",
         "'" + task + "' is not embed, rerank, generate or transcribe");
  spec.task = *parsed_task;
  spec.provider = require_string(source, *table, prefix, "provider", false);
  // The local engine of the task: whisper.cpp transcribes, llama.cpp does the rest.
  if (spec.provider.empty()) spec.provider = spec.task == ModelTask::transcribe ? "whisper" : "llamacpp";
  spec.model = require_string(source, *table, prefix, "model", true);
  spec.revision = require_string(source, *table, prefix, "revision", false);
  std::string warmup = require_string(source, *table, prefix, "warmup", false);
  if (!warmup.empty()) {
    auto w = parse_warmup_policy(warmup);
    if (!w)
      fail(source, *table->get("warmup"), prefix + ".warmup",
           "'" + warmup + "' is not lazy, eager or background");
    spec.warmup = *w;
  }
  if (const auto* opts = table->get("options")) {
    if (!opts->is_table()) fail(source, *opts, prefix + ".options", "must be a table");
    spec.options = to_json(*opts);
  }
  if (const auto* fbs = table->get("fallbacks")) {
    const auto* arr = fbs->as_array();
    if (!arr) fail(source, *fbs, prefix + ".fallbacks", "must be an array of aliases");
    for (const auto& fb : *arr) {
      auto* s = fb.as_string();
      if (!s) fail(source, fb, prefix + ".fallbacks", "must be an array of aliases");
      spec.fallbacks.push_back(s->get());
    }
  }
  if (const auto* any = table->get("fallback_on_any_error")) {
    auto* b = any->as_boolean();
    if (!b) fail(source, *any, prefix + ".fallback_on_any_error", "must be true or false");
    spec.fallback_on_any_error = b->get();
  }
  if (const auto* pin = table->get("pin")) {
    auto* b = pin->as_boolean();
    if (!b) fail(source, *pin, prefix + ".pin", "must be true or false");
    spec.pin = b->get();
  }
  if (const auto* cache = table->get("cache")) {
    if (const auto* b = cache->as_boolean()) {
      spec.cache = b->get();
    } else if (const auto* t = cache->as_table()) {
      if (auto bad = parse_alias_cache_table(to_json(*t), spec)) {
        const toml::node* at = t->get(bad->first);
        fail(source, at ? *at : *cache, prefix + ".cache." + bad->first, bad->second);
      }
    } else {
      fail(source, *cache, prefix + ".cache", "must be true, false or a table (docs/cache.md)");
    }
  }
  if (const auto* keep = table->get("keep_alive")) {
    auto parsed = parse_keep_alive(to_json(*keep));
    if (!parsed) fail(source, *keep, prefix + ".keep_alive", parsed.error().message());
    spec.keep_alive = *parsed;
  }
  return spec;
}

// Records "file:line" for every key under `table` (arrays are leaves).
void record_locations(std::string_view source, const toml::table& table, const std::string& prefix,
                      std::map<std::string, std::string>& out) {
  for (const auto& [k, v] : table) {
    const std::string path = join_key_path(prefix, k.str());
    const auto line = k.source().begin.line ? k.source().begin.line : v.source().begin.line;
    out[path] = std::string(source) + (line ? ":" + std::to_string(line) : "");
    if (const auto* sub = v.as_table()) record_locations(source, *sub, path, out);
  }
}

// [plugins]: paths = ["folder or file.so", ...], relative paths against the config file's folder. Kept
// among the provider tables as providers["plugins"] (no provider may take that id) so that Config, a
// header most of xervo includes, keeps its shape; src/providers/plugin reads it from there.
nlohmann::json parse_plugins(std::string_view source, const toml::node& node) {
  const auto* table = node.as_table();
  if (!table) fail(source, node, "plugins", "must be a table");
  nlohmann::json out = {{"paths", nlohmann::json::array()}};
  for (const auto& [k, v] : *table) {
    if (k.str() != "paths")
      fail(source, v, "plugins." + std::string(k.str()), "unknown key (known keys: paths)");
    const auto* paths = v.as_array();
    if (!paths) fail(source, v, "plugins.paths", "must be an array of folders or files");
    const auto base = std::filesystem::path(std::string(source)).parent_path();
    for (const auto& p : *paths) {
      const auto* s = p.as_string();
      if (!s || s->get().empty()) fail(source, p, "plugins.paths", "must hold non-empty strings");
      std::filesystem::path path(s->get());
      out["paths"].push_back((path.is_relative() && !base.empty() ? base / path : path).string());
    }
  }
  return out;
}

}  // namespace

std::string join_key_path(std::string_view prefix, std::string_view key) {
  bool bare = !key.empty();
  for (char c : key) bare = bare && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
  std::string k = bare ? std::string(key) : "\"" + std::string(key) + "\"";
  return prefix.empty() ? k : std::string(prefix) + "." + k;
}

std::string Config::where(std::string_view key_path) const {
  if (auto it = locations.find(std::string(key_path)); it != locations.end()) return it->second;
  return path.string();
}

Result<Config> parse_config(std::string_view toml_text, std::string_view source_name) {
  Config config;
  try {
    toml::table root = toml::parse(toml_text, source_name);
    std::optional<nlohmann::json> plugins;
    record_locations(source_name, root, "", config.locations);
    for (const auto& [k, v] : root) {
      const std::string key(k.str());
      if (key == "models") {
        const auto* models = v.as_table();
        if (!models) fail(source_name, v, "models", "must be a table of aliases");
        for (const auto& [alias, spec] : *models)
          config.models.push_back(parse_model(source_name, std::string(alias.str()), spec));
      } else if (key == "providers") {
        if (!v.is_table()) fail(source_name, v, "providers", "must be a table of provider tables");
        config.providers = to_json(v);
      } else if (key == "server" || key == "library" || key == "runtime" || key == "cache" ||
                 key == "telemetry" || key == "cluster") {
        if (!v.is_table()) fail(source_name, v, key, "must be a table");
        (key == "server"      ? config.server
         : key == "library"   ? config.library
         : key == "cache"     ? config.cache
         : key == "telemetry" ? config.telemetry
         : key == "cluster"   ? config.cluster
                              : config.runtime) = to_json(v);
      } else if (key == "plugins") {
        plugins = parse_plugins(source_name, v);
      } else {
        fail(source_name, v, key,
             "unknown section (expected models, providers, plugins, runtime, cache, server, library, "
             "telemetry or cluster)");
      }
    }
    if (plugins) {
      if (config.providers.contains("plugins"))
        fail(source_name, *root.get("providers"), "providers.plugins",
             "'plugins' is no provider id (the [plugins] section lists plugin folders)");
      config.providers["plugins"] = std::move(*plugins);
    }
  } catch (const toml::parse_error& e) {
    return Error(ErrorCode::config_invalid, std::string(source_name) + ":" +
                                                std::to_string(e.source().begin.line) + ": " +
                                                std::string(e.description()));
  } catch (const ConfigError& e) {
    return Error(ErrorCode::config_invalid, e.message);
  }
  return config;
}

Result<Config> load_config_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::config_invalid, "cannot read config file " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  auto config = parse_config(text.str(), path.string());
  if (config.ok()) config->path = path;
  return config;
}

std::filesystem::path find_config_file(const std::filesystem::path& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* env = std::getenv("XERVO_CONFIG"); env && *env) return env;
  std::error_code ec;
  if (std::filesystem::is_regular_file("xervo.toml", ec)) return "xervo.toml";
  return {};
}

}  // namespace xervo
