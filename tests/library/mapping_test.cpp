// Mappings: sync creates the links a mapping asks for, removes only those it created, and leaves
// everything else in the target folder alone; status reports drift.
#include <gtest/gtest.h>

#include <fstream>

#include "gguf_writer.h"
#include "library_fixture.h"

namespace xervo::testing {
namespace {
namespace fs = std::filesystem;

class Mapping : public ::testing::Test {
 protected:
  void SetUp() override {
    lib = open_test_library(home.path);
    ASSERT_TRUE(lib);
    write_test_gguf(src.path / "embedder.gguf", {.architecture = "bert", .pooling_type = 1, .seed = 1});
    write_test_gguf(src.path / "chat.gguf", {.architecture = "llama", .seed = 2});
    for (auto& o : lib->import_paths({src.path / "embedder.gguf", src.path / "chat.gguf"}))
      ASSERT_TRUE(o.model) << o.error->to_string();
  }
  void write_mapping(const std::string& name, const std::string& toml) {
    std::ofstream(home.path / "mappings" / (name + ".toml")) << toml;
  }

  TempDir home, src, app;
  std::shared_ptr<ModelLibrary> lib;
};

TEST_F(Mapping, SyncCreatesAndRemovesOnlyItsOwnLinks) {
  write_mapping("app", "target = \"" + app.path.string() + "\"\npattern = \"{publisher}/{name}.gguf\"\n" +
                           "strategy = \"symlink\"\n[filter]\ntask = \"embed\"\n");
  // The other app's own files, one of them where a link would go next.
  fs::create_directories(app.path / "mine");
  std::ofstream(app.path / "mine/user-model.gguf") << "user data";

  auto r = lib->map_sync("app");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->at(0).created, 1);
  EXPECT_TRUE(r->at(0).errors.empty());
  fs::path link = app.path / "local/embedder.gguf";
  ASSERT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), lib->get("local/embedder")->file);
  EXPECT_FALSE(fs::exists(app.path / "local/chat.gguf")) << "filtered out";

  auto again = lib->map_sync("app");
  EXPECT_EQ(again->at(0).created, 0);
  EXPECT_EQ(again->at(0).unchanged, 1);
  auto status = lib->map_status("app");
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(status->size(), 1u);
  EXPECT_EQ(status->at(0).state, "ok");

  // The model goes: status shows the orphan, sync removes our link and nothing else.
  ASSERT_TRUE(lib->remove("local/embedder").ok());
  status = lib->map_status("app");
  ASSERT_EQ(status->size(), 1u);
  EXPECT_EQ(status->at(0).state, "orphan");
  auto removed = lib->map_sync("app");
  EXPECT_EQ(removed->at(0).removed, 1);
  EXPECT_FALSE(fs::exists(fs::symlink_status(link)));
  EXPECT_FALSE(fs::exists(app.path / "local")) << "empty folder we created is gone";
  EXPECT_TRUE(fs::exists(app.path / "mine/user-model.gguf"));
}

TEST_F(Mapping, NeverOverwritesOrDeletesFilesItDidNotCreate) {
  write_mapping(
      "app", "target = \"" + app.path.string() + "\"\npattern = \"{name}.gguf\"\nstrategy = \"hardlink\"\n");
  std::ofstream(app.path / "chat.gguf") << "the user's own chat.gguf";
  auto r = lib->map_sync();
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->at(0).created, 1);  // embedder only
  ASSERT_EQ(r->at(0).errors.size(), 1u);
  EXPECT_NE(r->at(0).errors[0].find("not created by xervo"), std::string::npos);
  EXPECT_TRUE(fs::equivalent(app.path / "embedder.gguf", lib->get("local/embedder")->file));
  auto status = lib->map_status();
  bool conflict = false;
  for (auto& s : *status) conflict |= s.state == "conflict";
  EXPECT_TRUE(conflict);

  // The user replaces our hard link with their own file: sync forgets it and keeps the file.
  fs::remove(app.path / "embedder.gguf");
  std::ofstream(app.path / "embedder.gguf") << "replaced by the user";
  ASSERT_TRUE(lib->remove("local/embedder").ok());
  r = lib->map_sync();
  EXPECT_EQ(r->at(0).removed, 0);
  std::ifstream in(app.path / "embedder.gguf");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "replaced by the user");
  std::ifstream chat(app.path / "chat.gguf");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(chat)), {}), "the user's own chat.gguf");
}

TEST_F(Mapping, CopyStrategyAndPatternsThatEscapeTheTarget) {
  write_mapping("copies", "target = \"" + app.path.string() +
                              "\"\npattern = \"{task}/{name}.gguf\"\nstrategy = \"copy\"\n");
  auto r = lib->map_sync("copies");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->at(0).created, 2);
  EXPECT_TRUE(fs::is_regular_file(app.path / "embed/embedder.gguf"));
  EXPECT_FALSE(fs::is_symlink(app.path / "generate/chat.gguf"));

  write_mapping("escape", "target = \"" + app.path.string() + "/inner\"\npattern = \"../../{name}.gguf\"\n");
  auto bad = lib->map_sync("escape");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->at(0).created, 0);
  EXPECT_EQ(bad->at(0).errors.size(), 2u);
  EXPECT_FALSE(fs::exists(app.path.parent_path() / "chat.gguf"));

  write_mapping("broken", "target = \"relative/path\"\n");
  EXPECT_EQ(lib->map_sync("broken").error().code(), ErrorCode::config_invalid);
  EXPECT_EQ(lib->map_sync("nope").error().code(), ErrorCode::config_invalid);
}

TEST_F(Mapping, UnknownKeysAndWrongTypesNameFileLineAndKey) {
  const std::string target = "target = \"" + app.path.string() + "\"\n";
  auto error_of = [&](const std::string& toml) {
    write_mapping("typo", toml);
    auto r = lib->map_sync("typo");
    EXPECT_FALSE(r.ok());
    auto status = lib->map_status("typo");
    EXPECT_FALSE(status.ok()) << "status reads the same file";
    if (r.ok()) return std::string();
    EXPECT_EQ(r.error().code(), ErrorCode::config_invalid);
    return r.error().message();
  };
  EXPECT_NE(error_of(target + "stratgy = \"copy\"\n").find("typo.toml:2: stratgy: unknown key"),
            std::string::npos);
  EXPECT_NE(error_of(target + "[filter]\ntsk = \"embed\"\n").find("typo.toml:3: filter.tsk: unknown key"),
            std::string::npos);
  EXPECT_NE(error_of(target + "pattern = 3\n").find("typo.toml:2: pattern: must be a string"),
            std::string::npos);
  EXPECT_NE(error_of(target + "[filter]\ntags = \"work\"\n").find("filter.tags: must be an array"),
            std::string::npos);
  EXPECT_TRUE(fs::is_empty(app.path)) << "nothing synced from a bad mapping";
}

}  // namespace
}  // namespace xervo::testing
