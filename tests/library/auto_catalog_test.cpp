// The auto catalog as hostile input: the shipped file parses, and every malformed catalog (bad
// JSON, missing or mistyped fields, sizes out of range, "../" in Hub ids, unknown keys or versions)
// is a config_invalid error naming the field. And which file is used when several are named.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "library/auto_catalog.h"
#include "library/hub_ref.h"
#include "library_fixture.h"

namespace xervo::testing {
namespace {

using library::parse_auto_catalog;

std::string catalog_with(const nlohmann::json& entry) {
  return nlohmann::json{{"version", 1}, {"tasks", {{"embed", nlohmann::json::array({entry})}}}}.dump();
}

nlohmann::json good_entry() {
  return {{"model", "hf:TheOrg/Embed-GGUF:Q8_0"},
          {"quantization", "Q8_0"},
          {"file_bytes", 1000},
          {"memory_bytes", 5000},
          {"tier", 2},
          {"license", "mit"}};
}

// The error of `text`, which must be config_invalid and mention every one of `words`.
void expect_refused(const std::string& text, std::vector<std::string> words) {
  auto r = parse_auto_catalog(text, "test.json");
  ASSERT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.error().code(), ErrorCode::config_invalid) << r.error().to_string();
  for (const auto& w : words)
    EXPECT_NE(r.error().message().find(w), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("test.json"), std::string::npos) << r.error().message();
}

TEST(AutoCatalog, ShippedCatalogParsesWithEntriesForEveryTask) {
  auto c = library::builtin_auto_catalog();
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->version, 1);
  EXPECT_EQ(c->source, "built-in");
  for (auto task : {ModelTask::embed, ModelTask::rerank, ModelTask::generate, ModelTask::transcribe}) {
    ASSERT_FALSE(c->entries(task).empty()) << to_string(task);
    for (const auto& e : c->entries(task)) {
      EXPECT_TRUE(e.model.starts_with("hf:")) << e.model;
      EXPECT_FALSE(e.license.empty()) << e.model;
      EXPECT_GE(e.memory_bytes, e.file_bytes) << e.model;
    }
  }
  // Each transcription entry pulls a whisper.cpp file: its tag names ggml-TAG.bin of the repository.
  for (const auto& e : c->entries(ModelTask::transcribe)) {
    auto ref = library::parse_hub_ref(e.model);
    ASSERT_TRUE(ref.ok()) << e.model;
    EXPECT_EQ(ref->repo, "ggerganov/whisper.cpp") << e.model;
    EXPECT_EQ(e.license, "mit") << e.model;
    EXPECT_TRUE(e.sizes_approximate) << e.model;
    std::string tag = e.model.substr(e.model.rfind(':') + 1);
    std::vector<library::HubFileEntry> listing = {{"ggml-" + tag + ".bin", e.file_bytes, ""},
                                                  {"ggml-" + tag + "-encoder.mlmodelc.zip", 1, ""},
                                                  {"README.md", 1, ""}};
    auto picked = library::pick_model_file(*ref, listing);
    ASSERT_TRUE(picked.ok()) << e.model << ": " << picked.error().to_string();
    EXPECT_EQ(picked->path, "ggml-" + tag + ".bin");
  }
}

TEST(AutoCatalog, ReadsEveryField) {
  auto entry = good_entry();
  entry["name"] = "embed small";
  entry["cpu_features"] = {"avx2"};
  entry["sha256"] = std::string(64, 'A');
  entry["sizes_approximate"] = true;
  auto c = parse_auto_catalog(catalog_with(entry), "test.json");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  const auto& e = c->entries(ModelTask::embed).at(0);
  EXPECT_EQ(e.model, "hf:TheOrg/Embed-GGUF:Q8_0");
  EXPECT_EQ(e.name, "embed small");
  EXPECT_EQ(e.file_bytes, 1000u);
  EXPECT_EQ(e.memory_bytes, 5000u);
  EXPECT_EQ(e.tier, 2);
  EXPECT_EQ(e.cpu_features, std::vector<std::string>{"avx2"});
  EXPECT_EQ(e.sha256, std::string(64, 'a'));
  EXPECT_TRUE(e.sizes_approximate);
  auto unnamed = parse_auto_catalog(catalog_with(good_entry()), "test.json");
  ASSERT_TRUE(unnamed.ok());
  EXPECT_EQ(unnamed->entries(ModelTask::embed).at(0).name, "Embed-GGUF");
}

TEST(AutoCatalog, RefusesMalformedFiles) {
  expect_refused("{not json", {"not valid JSON"});
  expect_refused("[]", {"must be a JSON object"});
  expect_refused(R"({"tasks": {}})", {"version", "missing"});
  expect_refused(R"({"version": 2, "tasks": {}})", {"version", "reads catalog version 1"});
  expect_refused(R"({"version": "1", "tasks": {}})", {"version"});
  expect_refused(R"({"version": 1})", {"tasks", "missing"});
  expect_refused(R"({"version": 1, "tasks": []})", {"tasks"});
  expect_refused(R"({"version": 1, "tasks": {"dance": []}})", {"tasks.dance", "unknown task"});
  expect_refused(R"({"version": 1, "tasks": {"embed": {}}})", {"tasks.embed", "list"});
  expect_refused(R"({"version": 1, "tasks": {"embed": [3]}})", {"tasks.embed[0]", "object"});
  expect_refused(R"({"version": 1, "vesion": 1, "tasks": {}})", {"vesion", "unknown key"});
  expect_refused(std::string(library::kAutoCatalogMaxFileBytes + 1, ' '), {"larger than"});
  std::string deep(100000, '[');
  expect_refused(deep, {"not valid JSON"});
}

TEST(AutoCatalog, RefusesBadEntries) {
  auto with = [](const char* key, nlohmann::json value) {
    auto e = good_entry();
    if (value.is_discarded())
      e.erase(key);
    else
      e[key] = std::move(value);
    return catalog_with(e);
  };
  const nlohmann::json missing(nlohmann::json::value_t::discarded);
  for (const char* key : {"model", "quantization", "file_bytes", "memory_bytes", "tier", "license"})
    expect_refused(with(key, missing), {std::string("tasks.embed[0].") + key, "missing"});
  expect_refused(with("model", 7), {"tasks.embed[0].model", "string"});
  expect_refused(with("model", "hf:../../etc/passwd"), {"tasks.embed[0].model", ".."});
  expect_refused(with("model", "hf:TheOrg/../x:Q8_0"), {"tasks.embed[0].model", ".."});
  expect_refused(with("model", "hf:TheOrg/Repo/..%2f/x.gguf"), {"tasks.embed[0].model"});
  expect_refused(with("model", "/etc/passwd"), {"tasks.embed[0].model", "not a Hub reference"});
  expect_refused(with("model", "library:local/x"), {"tasks.embed[0].model", "not a Hub reference"});
  expect_refused(with("model", "hf:noslash"), {"tasks.embed[0].model"});
  expect_refused(with("model", "hf:TheOrg/Repo:Q8 0"), {"tasks.embed[0].model"});
  expect_refused(with("model", std::string("hf:TheOrg/Re\x01po")), {"tasks.embed[0].model"});
  expect_refused(with("quantization", "Q4/../K"), {"tasks.embed[0].quantization"});
  expect_refused(with("file_bytes", -5), {"tasks.embed[0].file_bytes", "whole number"});
  expect_refused(with("file_bytes", 0), {"tasks.embed[0].file_bytes"});
  expect_refused(with("file_bytes", 1.5), {"tasks.embed[0].file_bytes"});
  expect_refused(with("file_bytes", "1000"), {"tasks.embed[0].file_bytes"});
  expect_refused(with("memory_bytes", 18446744073709551615ull), {"tasks.embed[0].memory_bytes"});
  expect_refused(with("memory_bytes", 1e300), {"tasks.embed[0].memory_bytes"});
  expect_refused(with("memory_bytes", 999), {"tasks.embed[0].memory_bytes", "at least file_bytes"});
  expect_refused(with("tier", 0), {"tasks.embed[0].tier"});
  expect_refused(with("tier", 101), {"tasks.embed[0].tier"});
  expect_refused(with("tier", 9223372036854775807ll), {"tasks.embed[0].tier"});
  expect_refused(with("license", ""), {"tasks.embed[0].license", "empty"});
  expect_refused(with("license", std::string(65, 'x')), {"tasks.embed[0].license"});
  expect_refused(with("cpu_features", "avx2"), {"tasks.embed[0].cpu_features"});
  expect_refused(with("cpu_features", {"AVX2"}), {"tasks.embed[0].cpu_features"});
  expect_refused(with("sha256", "abc"), {"tasks.embed[0].sha256", "64 hex"});
  expect_refused(with("sizes_approximate", "yes"), {"tasks.embed[0].sizes_approximate"});
  expect_refused(with("licence", "mit"), {"tasks.embed[0].licence", "unknown key"});
  nlohmann::json twice = {{"version", 1}, {"tasks", {{"embed", {good_entry(), good_entry()}}}}};
  expect_refused(twice.dump(), {"tasks.embed[1].model", "listed twice"});
  nlohmann::json many = {{"version", 1}, {"tasks", {{"embed", nlohmann::json::array()}}}};
  for (size_t i = 0; i <= library::kAutoCatalogMaxEntries; ++i)
    many["tasks"]["embed"].push_back(good_entry());
  expect_refused(many.dump(), {"tasks.embed", "more than"});
}

struct EnvVar {
  std::string name;
  EnvVar(std::string n, const std::string& value) : name(std::move(n)) {
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~EnvVar() { ::unsetenv(name.c_str()); }
};

TEST(AutoCatalog, FlagThenConfigThenEnvironmentThenBuiltIn) {
  TempDir dir;
  auto write = [&](const char* file, const char* name) {
    nlohmann::json j = {{"version", 1}, {"name", name}, {"tasks", nlohmann::json::object()}};
    std::ofstream(dir.path / file) << j.dump();
    return dir.path / file;
  };
  auto flag = write("flag.json", "flag");
  write("config.json", "config");
  auto env_file = write("env.json", "env");
  const nlohmann::json settings = {{"auto_catalog", "config.json"}};  // relative to the config file
  const auto config_file = dir.path / "xervo.toml";
  EnvVar env("XERVO_AUTO_CATALOG", env_file.string());
  EXPECT_EQ(library::find_auto_catalog(flag, settings, config_file)->name, "flag");
  EXPECT_EQ(library::find_auto_catalog({}, settings, config_file)->name, "config");
  EXPECT_EQ(library::find_auto_catalog({}, nlohmann::json::object(), config_file)->name, "env");
  ::unsetenv("XERVO_AUTO_CATALOG");
  EXPECT_EQ(library::find_auto_catalog({}, nlohmann::json::object(), config_file)->source, "built-in");
  auto missing = library::find_auto_catalog(dir.path / "nope.json", settings, config_file);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::config_invalid);
  EXPECT_NE(missing.error().message().find("nope.json"), std::string::npos) << missing.error().message();
  auto wrong_type = library::find_auto_catalog({}, {{"auto_catalog", 3}}, config_file);
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_NE(wrong_type.error().message().find("library.auto_catalog"), std::string::npos);
  EXPECT_FALSE(library::find_auto_catalog(dir.path, settings, config_file).ok()) << "a folder is no catalog";
}

TEST(AutoCatalog, LibraryOptionsAcceptTheCatalogKey) {
  auto o = library_options_from_json({{"auto_catalog", "/x.json"}});
  EXPECT_TRUE(o.ok()) << o.error().to_string();
  auto bad = library_options_from_json({{"auto_catalog", 5}});
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace xervo::testing
