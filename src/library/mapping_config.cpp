// load_mapping: NAME.toml -> MappingConfig. Strict like xervo.toml: every error names the file,
// the line and the key, and an unknown key is an error rather than a setting silently dropped.
#include <toml++/toml.h>

#include "library/files.h"
#include "library/mapping.h"

namespace xervo::library {
namespace fs = std::filesystem;

namespace {

struct MappingError {
  std::string message;
};

[[noreturn]] void fail(const fs::path& file, const toml::node& node, const std::string& key,
                       const std::string& what) {
  std::string where = file.string();
  if (node.source().begin.line) where += ":" + std::to_string(node.source().begin.line);
  throw MappingError{where + ": " + key + ": " + what};
}

void check_keys(const fs::path& file, const toml::table& table, const std::string& prefix,
                std::initializer_list<const char*> known) {
  for (const auto& [k, v] : table) {
    bool ok = false;
    std::string list;
    for (const char* name : known) {
      ok = ok || k.str() == name;
      list += (list.empty() ? "" : ", ") + std::string(name);
    }
    if (!ok) fail(file, v, prefix + std::string(k.str()), "unknown key (expected " + list + ")");
  }
}

std::optional<std::string> optional_string(const fs::path& file, const toml::table& table, const char* key,
                                           const std::string& prefix) {
  const toml::node* node = table.get(key);
  if (!node) return std::nullopt;
  if (!node->is_string()) fail(file, *node, prefix + key, "must be a string");
  return node->as_string()->get();
}

MappingConfig parse(const fs::path& file, const toml::table& t) {
  MappingConfig m;
  m.name = file.stem().string();
  check_keys(file, t, "", {"target", "pattern", "strategy", "filter"});
  auto target = optional_string(file, t, "target", "");
  if (!target || target->empty()) fail(file, t, "target", "the other app's model folder is required");
  m.target = fs::path(*target);
  if (!m.target.is_absolute()) fail(file, *t.get("target"), "target", "must be an absolute path");
  if (auto p = optional_string(file, t, "pattern", "")) m.pattern = *p;
  if (auto s = optional_string(file, t, "strategy", "")) {
    if (*s == "symlink")
      m.strategy = LinkStrategy::symlink;
    else if (*s == "hardlink")
      m.strategy = LinkStrategy::hardlink;
    else if (*s == "copy")
      m.strategy = LinkStrategy::copy;
    else
      fail(file, *t.get("strategy"), "strategy", "must be symlink, hardlink or copy");
  }
  if (const toml::node* node = t.get("filter")) {
    const toml::table* f = node->as_table();
    if (!f) fail(file, *node, "filter", "must be a table");
    check_keys(file, *f, "filter.", {"task", "architecture", "tags"});
    if (auto task = optional_string(file, *f, "task", "filter.")) {
      m.task = parse_model_task(*task);
      if (!m.task) fail(file, *f->get("task"), "filter.task", "must be embed, rerank or generate");
    }
    if (auto a = optional_string(file, *f, "architecture", "filter.")) m.architecture = *a;
    if (const toml::node* tags = f->get("tags")) {
      const toml::array* arr = tags->as_array();
      if (!arr) fail(file, *tags, "filter.tags", "must be an array of strings");
      for (const auto& tag : *arr) {
        if (!tag.is_string()) fail(file, tag, "filter.tags", "must be an array of strings");
        m.tags.push_back(normalize_name(tag.as_string()->get()));
      }
    }
  }
  return m;
}

}  // namespace

Result<MappingConfig> load_mapping(const fs::path& file) {
  try {
    toml::table t = toml::parse_file(file.string());
    return parse(file, t);
  } catch (const toml::parse_error& e) {
    return Error(ErrorCode::config_invalid, file.string() + ":" + std::to_string(e.source().begin.line) +
                                                ": " + std::string(e.description()));
  } catch (const MappingError& e) {
    return Error(ErrorCode::config_invalid, e.message);
  }
}

}  // namespace xervo::library
