// The library's home: an index that was lost (missing, 0 bytes, damaged) is an error that names
// the fix, reindex rebuilds it from the files, a read-only home still answers every read, and
// [library] settings are checked like the rest of the config.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "gguf_writer.h"
#include "library_fixture.h"
#include "xervo/config.h"

namespace xervo::testing {
namespace {
namespace fs = std::filesystem;

class Home : public ::testing::Test {
 protected:
  void SetUp() override {
    lib = open_test_library(home.path);
    ASSERT_TRUE(lib);
    write_test_gguf(src.path / "alpha.gguf", {.architecture = "bert", .pooling_type = 1, .seed = 1});
    write_test_gguf(src.path / "beta.gguf", {.architecture = "llama", .seed = 2});
    for (auto& o :
         lib->import_paths({src.path / "alpha.gguf", src.path / "beta.gguf"}, {.mode = ImportMode::copy}))
      ASSERT_TRUE(o.model) << o.error->to_string();
    ASSERT_TRUE(lib->set_overrides("local/alpha", {{"description", "my notes"}}).ok());
  }
  // Closes the library so the index is one file again (the last connection checkpoints the WAL).
  void close() { lib.reset(); }
  LibraryOptions options() const {
    LibraryOptions o;
    o.home = home.path;
    o.hub_endpoint = "http://127.0.0.1:1";
    return o;
  }

  TempDir home, src;
  std::shared_ptr<ModelLibrary> lib;
};

TEST_F(Home, EmptiedIndexIsAnErrorAndReindexRebuildsIt) {
  close();
  fs::resize_file(home.path / "models.db", 0);
  auto opened = ModelLibrary::open(options());
  ASSERT_FALSE(opened.ok()) << "an empty index over model files is not an empty library";
  const std::string& msg = opened.error().message();
  EXPECT_NE(msg.find((home.path / "models.db").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("0 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("xervo models reindex"), std::string::npos) << msg;

  auto report = ModelLibrary::reindex(options());
  ASSERT_TRUE(report.ok()) << report.error().to_string();
  EXPECT_EQ(report->indexed, 2);
  EXPECT_TRUE(report->skipped.empty());
  auto again = ModelLibrary::open(options());
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  auto all = (*again)->search({.sort = LibrarySort::name});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(all->at(0).id, "local/alpha");
  EXPECT_EQ(all->at(0).description, "my notes") << "overrides survive a reindex";
  EXPECT_EQ(all->at(0).task, ModelTask::embed);
  EXPECT_EQ(all->at(1).id, "local/beta");
  auto verified = (*again)->verify();
  ASSERT_TRUE(verified.ok());
  for (auto& v : *verified) EXPECT_TRUE(v.ok) << v.id << ": " << v.detail;
  EXPECT_EQ((*again)->search({.text = "notes"})->size(), 1u) << "full-text index rebuilt too";
}

TEST_F(Home, MissingOrDamagedIndexSaysToReindex) {
  close();
  fs::remove(home.path / "models.db");
  auto missing = ModelLibrary::open(options());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("is missing"), std::string::npos) << missing.error().message();
  std::ofstream(home.path / "models.db") << std::string(8192, 'x');
  auto damaged = ModelLibrary::open(options());
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.error().message().find("xervo models reindex"), std::string::npos)
      << damaged.error().message();
  ASSERT_TRUE(ModelLibrary::reindex(options()).ok());
  EXPECT_EQ((*ModelLibrary::open(options()))->search({})->size(), 2u);
}

TEST_F(Home, ReindexSkipsFoldersWithoutAModelAndSaysWhy) {
  fs::create_directories(home.path / "models/theorg/half");
  std::ofstream(home.path / "models/theorg/half/half.gguf.incomplete") << "partial";
  fs::create_directories(home.path / "models/local/empty");
  close();
  auto report = ModelLibrary::reindex(options());
  ASSERT_TRUE(report.ok()) << report.error().to_string();
  EXPECT_EQ(report->indexed, 2);
  ASSERT_EQ(report->skipped.size(), 2u);
  for (const auto& s : report->skipped) {
    if (s.folder.filename() == "half")
      EXPECT_NE(s.reason.find("interrupted download"), std::string::npos) << s.reason;
    else
      EXPECT_EQ(s.reason, "no model file");
  }
}

TEST_F(Home, ExplicitlyReadOnlyLibraryReadsAndRefusesWrites) {
  close();
  auto o = options();
  o.read_only = true;
  auto ro = ModelLibrary::open(o);
  ASSERT_TRUE(ro.ok()) << ro.error().to_string();
  EXPECT_EQ((*ro)->search({})->size(), 2u);
  auto imported = (*ro)->import_paths({src.path / "alpha.gguf"});
  ASSERT_TRUE(imported[0].error);
  EXPECT_NE(imported[0].error->message().find("read-only"), std::string::npos)
      << imported[0].error->message();
  EXPECT_FALSE((*ro)->remove("local/beta").ok());
  EXPECT_TRUE(fs::exists(home.path / "models/local/beta/beta.gguf"));
}

// A home this process may not write to (a read-only mount, another user's folder): every read
// works, as an unprivileged user in a child process sees it.
TEST_F(Home, UnwritableHomeIsOpenedReadOnly) {
  close();
  // Nothing may be created or changed anywhere in the home.
  for (auto& e : fs::recursive_directory_iterator(home.path))
    fs::permissions(e.path(), fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                    fs::perm_options::remove);
  fs::permissions(home.path, fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                  fs::perm_options::remove);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // root may write anywhere: be someone who may not.
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(10);
    if (::access(home.path.c_str(), W_OK) == 0) ::_exit(11);
    auto opened = ModelLibrary::open(options());
    if (!opened.ok()) {
      std::fprintf(stderr, "open: %s\n", opened.error().to_string().c_str());
      ::_exit(12);
    }
    auto& l = **opened;
    if (!l.options().read_only) ::_exit(13);
    auto all = l.search({.sort = LibrarySort::name});
    if (!all.ok() || all->size() != 2) ::_exit(14);
    auto alpha = l.find("local/alpha");
    if (!alpha.ok() || alpha->description != "my notes") ::_exit(15);
    auto verified = l.file_matches_record(*alpha);
    if (!verified.ok() || !*verified) ::_exit(16);
    if (l.search({.text = "notes"})->size() != 1) ::_exit(17);
    if (l.import_paths({src.path / "alpha.gguf"})[0].model) ::_exit(18);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  fs::permissions(home.path, fs::perms::owner_write, fs::perm_options::add);
  for (auto& e : fs::recursive_directory_iterator(home.path))
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child's step that failed (see home_test.cpp)";
}

TEST(LibraryOptions, UnknownKeysAndWrongTypesNameFileLineAndKey) {
  TempDir dir;
  fs::path file = dir.path / "xervo.toml";
  std::ofstream(file) << "[library]\nhome = \"/tmp/x\"\nhub_endpont = \"http://x\"\n";
  auto config = load_config_file(file);
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  auto typo = library_options_from_json(config->library, file);
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.error().code(), ErrorCode::config_invalid);
  EXPECT_NE(typo.error().message().find(file.string() + ":3: library.hub_endpont: unknown key"),
            std::string::npos)
      << typo.error().message();
  // Without the file: still the key.
  auto bare = library_options_from_json(config->library);
  ASSERT_FALSE(bare.ok());
  EXPECT_NE(bare.error().message().find("[library] hub_endpont: unknown key"), std::string::npos);

  std::ofstream(file) << "[library]\n\nparallel_downloads = \"4\"\n";
  auto typed = library_options_from_json(load_config_file(file)->library, file);
  ASSERT_FALSE(typed.ok());
  EXPECT_NE(typed.error().message().find(":3: library.parallel_downloads: must be an integer"),
            std::string::npos)
      << typed.error().message();

  std::ofstream(file) << "[library]\nparallel_downloads = 8\nbackend = \"cpu\"\nmax_file_bytes = 1024\n";
  auto good = library_options_from_json(load_config_file(file)->library, file);
  ASSERT_TRUE(good.ok()) << good.error().to_string();
  EXPECT_EQ(good->parallel_downloads, 8);
  EXPECT_EQ(good->max_file_bytes, 1024u);
}

}  // namespace
}  // namespace xervo::testing
