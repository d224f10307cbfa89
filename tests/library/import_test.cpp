// Import: GGUF facts, deduplication, link/copy/move, Hugging Face cache and Ollama folders, every
// kind of bad input, and processes killed at each step of an import (deterministically, at named
// crash points).
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <functional>

#include "gguf_writer.h"
#include "hub_server.h"
#include "library/fault_points.h"
#include "library/files.h"
#include "library_fixture.h"

namespace xervo::testing {
namespace {
namespace fs = std::filesystem;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

uint64_t inode(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_ino;
}

class Import : public ::testing::Test {
 protected:
  void SetUp() override {
    lib = open_test_library(home.path);
    ASSERT_TRUE(lib);
  }
  fs::path make(const std::string& name, GgufSpec spec = {}) {
    fs::path p = src.path / name;
    fs::create_directories(p.parent_path());
    write_test_gguf(p, spec);
    return p;
  }
  std::vector<ImportOutcome> import(std::vector<fs::path> paths, ImportOptions o = {}) {
    return lib->import_paths(paths, o);
  }
  size_t count() {
    auto all = lib->search({.limit = 1000});
    return all.ok() ? all->size() : 0;
  }

  TempDir home, src;
  std::shared_ptr<ModelLibrary> lib;
};

TEST_F(Import, RecordsGgufFactsAndHashIntoTheCanonicalLayout) {
  auto path = make("My Llama 7B!.gguf", {.architecture = "llama",
                                         .file_type = 15,
                                         .elements = 4096,
                                         .tags = {"Chat"},
                                         .description = "a tiny test"});
  auto out = import({path});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].model) << out[0].error->to_string();
  const auto& m = *out[0].model;
  EXPECT_EQ(m.id, "local/my-llama-7b");
  EXPECT_EQ(m.architecture, "llama");
  EXPECT_EQ(m.task, ModelTask::generate);
  EXPECT_EQ(m.quantization, "Q4_K_M");
  EXPECT_EQ(m.context_length, 512u);
  EXPECT_EQ(m.embedding_length, 64u);
  EXPECT_EQ(m.parameter_count, 4096u);
  EXPECT_EQ(m.size_bytes, fs::file_size(path));
  EXPECT_EQ(m.sha256, FakeHub::sha256_hex(read_all(path)));
  EXPECT_EQ(m.state, LibraryModelState::ready);
  EXPECT_EQ(m.description, "a tiny test");
  EXPECT_EQ(m.tags, std::vector<std::string>{"chat"});
  EXPECT_EQ(m.file, home.path / "models/local/my-llama-7b/my-llama-7b.gguf");
  EXPECT_TRUE(fs::exists(home.path / "models/local/my-llama-7b/metadata.json"));
  auto fetched = lib->get("local/my-llama-7b");
  ASSERT_TRUE(fetched.ok());
  EXPECT_EQ(fetched->sha256, m.sha256);
}

TEST_F(Import, InfersTheTaskFromMetadata) {
  auto out = import({make("emb.gguf", {.architecture = "bert", .pooling_type = 1, .seed = 2}),
                     make("rank.gguf", {.architecture = "bert", .pooling_type = 4, .seed = 3}),
                     make("head.gguf", {.architecture = "bert", .cls_head = true, .seed = 4}),
                     make("noncausal.gguf", {.architecture = "qwen2", .causal = 0, .seed = 5}),
                     make("gen.gguf", {.architecture = "qwen2", .seed = 6})});
  ASSERT_EQ(out.size(), 5u);
  std::vector<ModelTask> want = {ModelTask::embed, ModelTask::rerank, ModelTask::rerank, ModelTask::embed,
                                 ModelTask::generate};
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_TRUE(out[i].model) << out[i].error->to_string();
    EXPECT_EQ(out[i].model->task, want[i]) << out[i].source;
  }
}

TEST_F(Import, SameContentTwiceIsOneRecord) {
  auto a = make("a.gguf", {.seed = 7});
  fs::copy_file(a, src.path / "renamed copy.gguf");
  auto first = import({a});
  auto again = import({a, src.path / "renamed copy.gguf"});
  ASSERT_TRUE(first[0].model);
  ASSERT_EQ(again.size(), 2u);
  for (auto& o : again) {
    ASSERT_TRUE(o.model) << o.error->to_string();
    EXPECT_TRUE(o.already_present);
    EXPECT_EQ(o.model->id, first[0].model->id);
  }
  EXPECT_EQ(count(), 1u);
  // A different file under a taken name gets its own id.
  fs::create_directories(src.path / "other");
  auto b = make("other/a.gguf", {.seed = 8});
  auto second = import({b});
  ASSERT_TRUE(second[0].model);
  EXPECT_EQ(second[0].model->id, "local/a-2");
}

TEST_F(Import, LinkCopyAndMoveModes) {
  auto linked = import({make("l.gguf", {.seed = 10})})[0];
  ASSERT_TRUE(linked.model);
  EXPECT_EQ(inode(linked.model->file), inode(src.path / "l.gguf"));  // hard link: no copy

  auto copied = import({make("c.gguf", {.seed = 11})}, {.mode = ImportMode::copy})[0];
  ASSERT_TRUE(copied.model);
  EXPECT_NE(inode(copied.model->file), inode(src.path / "c.gguf"));
  EXPECT_EQ(read_all(copied.model->file), read_all(src.path / "c.gguf"));

  auto moving = make("m.gguf", {.seed = 12});
  auto moved = import({moving}, {.mode = ImportMode::move})[0];
  ASSERT_TRUE(moved.model);
  EXPECT_FALSE(fs::exists(moving));
  EXPECT_TRUE(fs::exists(moved.model->file));
}

TEST_F(Import, BadInputsFailOneByOneAndTheBatchContinues) {
  std::vector<fs::path> inputs;
  {
    std::ofstream(src.path / "text.gguf") << "this is not a model";
    inputs.push_back(src.path / "text.gguf");
  }
  {  // tensor data cut off
    auto full = make("full.gguf", {.seed = 20, .elements = 8192});
    auto bytes = read_all(full);
    std::ofstream(src.path / "truncated.gguf", std::ios::binary).write(bytes.data(), bytes.size() - 4000);
    inputs.push_back(src.path / "truncated.gguf");
  }
  {  // header cut off
    auto full = read_all(src.path / "full.gguf");
    std::ofstream(src.path / "header.gguf", std::ios::binary).write(full.data(), 40);
    inputs.push_back(src.path / "header.gguf");
  }
  {  // garbage after a valid magic
    std::string junk = "GGUF";
    junk += std::string("\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\x7f", 12);
    junk += std::string(64, '\xee');
    std::ofstream(src.path / "hostile.gguf", std::ios::binary) << junk;
    inputs.push_back(src.path / "hostile.gguf");
  }
  fs::create_symlink(src.path / "does-not-exist.gguf", src.path / "dangling.gguf");
  inputs.push_back(src.path / "dangling.gguf");
  ASSERT_EQ(::mkfifo((src.path / "fifo.gguf").c_str(), 0644), 0);
  inputs.push_back(src.path / "fifo.gguf");
  inputs.push_back(src.path / "missing.gguf");
  inputs.push_back(make("good.gguf", {.seed = 21}));

  auto out = import(inputs);
  ASSERT_EQ(out.size(), inputs.size());
  for (size_t i = 0; i + 1 < out.size(); ++i) {
    EXPECT_FALSE(out[i].model) << out[i].source;
    ASSERT_TRUE(out[i].error) << out[i].source;
    EXPECT_NE(out[i].error->message().find(inputs[i].filename().string()), std::string::npos)
        << "error names the file: " << out[i].error->message();
  }
  EXPECT_NE(out[0].error->message().find("not a GGUF"), std::string::npos);
  EXPECT_NE(out[1].error->message().find("truncated"), std::string::npos);
  ASSERT_TRUE(out.back().model) << out.back().error->to_string();
  EXPECT_EQ(count(), 1u);
  EXPECT_TRUE(fs::is_empty(home.path / "tmp"));  // nothing half-imported left behind
}

TEST_F(Import, FolderScanRefusesSymlinksThatLeaveTheFolder) {
  TempDir outside;
  write_test_gguf(outside.path / "secret.gguf", {.seed = 30});
  fs::path folder = src.path / "folder";
  fs::create_directories(folder / "sub");
  write_test_gguf(folder / "sub/inner.gguf", {.seed = 31});
  fs::create_symlink(outside.path / "secret.gguf", folder / "escape.gguf");
  fs::create_symlink("../../../../../../../../etc/passwd", folder / "passwd.gguf");
  auto out = import({folder});
  int ok = 0, refused = 0;
  for (auto& o : out) {
    if (o.model) {
      ++ok;
      EXPECT_EQ(o.model->id, "local/inner");
    } else {
      ++refused;
      EXPECT_NE(o.error->message().find("outside"), std::string::npos) << o.error->message();
    }
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(refused, 2);
}

TEST_F(Import, HuggingFaceCacheSnapshotsBecomeModels) {
  fs::path repo = src.path / "hub/models--TheOrg--Tiny-GGUF";
  auto content_path = src.path / "content.gguf";
  write_test_gguf(content_path, {.seed = 40});
  std::string sha = FakeHub::sha256_hex(read_all(content_path));
  fs::create_directories(repo / "blobs");
  fs::create_directories(repo / "snapshots/abc123");
  fs::rename(content_path, repo / "blobs" / sha);
  fs::create_symlink("../../blobs/" + sha, repo / "snapshots/abc123/tiny.Q4_K_M.gguf");
  // A snapshot entry pointing out of the repo's blobs is refused.
  TempDir outside;
  write_test_gguf(outside.path / "x.gguf", {.seed = 41});
  fs::create_symlink(outside.path / "x.gguf", repo / "snapshots/abc123/evil.gguf");

  auto out = import({src.path / "hub"});
  ASSERT_EQ(out.size(), 2u);
  const ImportOutcome* good = nullptr;
  const ImportOutcome* bad = nullptr;
  for (auto& o : out) (o.model ? good : bad) = &o;
  ASSERT_TRUE(good && bad);
  EXPECT_EQ(good->model->id, "theorg/tiny.q4_k_m");
  EXPECT_EQ(good->model->hub_repo, "TheOrg/Tiny-GGUF");
  EXPECT_EQ(good->model->hub_revision, "abc123");
  EXPECT_EQ(good->model->source_kind, "huggingface-cache");
  EXPECT_EQ(good->model->sha256, sha);
  EXPECT_EQ(inode(good->model->file), inode(repo / "blobs" / sha));
  EXPECT_NE(bad->error->message().find("outside"), std::string::npos);
}

TEST_F(Import, OllamaManifestsReferenceBlobsWithoutCopying) {
  fs::path root = src.path / "ollama";
  fs::create_directories(root / "blobs");
  fs::create_directories(root / "manifests/registry.ollama.ai/library/tinyllama");
  fs::create_directories(root / "manifests/registry.ollama.ai/library/evil");
  write_test_gguf(root / "tmp.gguf", {.seed = 50});
  std::string sha = FakeHub::sha256_hex(read_all(root / "tmp.gguf"));
  fs::rename(root / "tmp.gguf", root / "blobs" / ("sha256-" + sha));
  nlohmann::json manifest = {
      {"schemaVersion", 2},
      {"layers",
       {{{"mediaType", "application/vnd.ollama.image.license"}, {"digest", "sha256:" + std::string(64, '0')}},
        {{"mediaType", "application/vnd.ollama.image.model"}, {"digest", "sha256:" + sha}, {"size", 1}}}}};
  std::ofstream(root / "manifests/registry.ollama.ai/library/tinyllama/latest") << manifest.dump();
  nlohmann::json evil = {
      {"layers",
       {{{"mediaType", "application/vnd.ollama.image.model"}, {"digest", "sha256:../../../../etc/passwd"}}}}};
  std::ofstream(root / "manifests/registry.ollama.ai/library/evil/latest") << evil.dump();

  auto out = import({root});
  ASSERT_EQ(out.size(), 2u);
  const ImportOutcome* good = out[0].model ? &out[0] : &out[1];
  const ImportOutcome* bad = out[0].model ? &out[1] : &out[0];
  ASSERT_TRUE(good->model);
  EXPECT_EQ(good->model->id, "ollama/tinyllama-latest");
  EXPECT_EQ(good->model->sha256, sha);
  EXPECT_EQ(inode(good->model->file), inode(root / "blobs" / ("sha256-" + sha)));
  ASSERT_TRUE(bad->error);
  EXPECT_NE(bad->error->message().find("digest"), std::string::npos) << bad->error->message();
}

TEST_F(Import, OverridesSurviveReimport) {
  auto path = make("o.gguf", {.seed = 60, .description = "from the file"});
  auto first = import({path})[0];
  ASSERT_TRUE(first.model);
  auto edited =
      lib->set_overrides(first.model->id, {{"description", "my notes"}, {"tags", {"work", "Fast"}}});
  ASSERT_TRUE(edited.ok()) << edited.error().to_string();
  EXPECT_EQ(edited->description, "my notes");
  auto again = import({path})[0];
  ASSERT_TRUE(again.model);
  EXPECT_TRUE(again.already_present);
  EXPECT_EQ(again.model->description, "my notes");
  EXPECT_EQ(again.model->tags, (std::vector<std::string>{"work", "fast"}));
  EXPECT_EQ(lib->search({.text = "notes"})->size(), 1u);
  EXPECT_FALSE(lib->set_overrides(first.model->id, {{"sha256", "x"}}).ok());
}

TEST_F(Import, RemoveDeletesTheRecordAndVerifyReportsDrift) {
  auto a = import({make("keep.gguf", {.seed = 70})}, {.mode = ImportMode::copy})[0];
  auto b = import({make("gone.gguf", {.seed = 71})}, {.mode = ImportMode::copy})[0];
  ASSERT_TRUE(a.model && b.model);
  auto v = lib->verify();
  ASSERT_TRUE(v.ok());
  for (auto& o : *v) EXPECT_TRUE(o.ok) << o.id << " " << o.detail;
  {  // flip one byte in place
    std::fstream f(a.model->file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x42');
  }
  v = lib->verify(a.model->id);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->at(0).ok);
  EXPECT_NE(v->at(0).detail.find("sha256"), std::string::npos);
  ASSERT_TRUE(lib->remove(b.model->id).ok());
  EXPECT_FALSE(fs::exists(b.model->file));
  EXPECT_EQ(lib->get(b.model->id).error().code(), ErrorCode::model_not_found);
  EXPECT_EQ(lib->remove("local/nope").error().code(), ErrorCode::model_not_found);
}

// Runs `work` in a child process that stops at the `nth` pass through crash point `point` and
// says so through a pipe; the parent then kills it with SIGKILL. False when the child never got
// there. The kill lands exactly at the point, however fast either process runs.
bool kill_child_at(const std::string& point, int nth, const std::function<void()>& work) {
  int fds[2];
  if (::pipe(fds) != 0) return false;
  pid_t child = ::fork();
  if (child < 0) return false;
  if (child == 0) {
    ::close(fds[0]);
    int seen = 0;
    library::faults::install({.crash_point = [&](std::string_view name) {
      if (name != point || ++seen != nth) return;
      char c = 1;
      (void)::write(fds[1], &c, 1);
      for (;;) ::pause();
    }});
    work();
    ::_exit(0);
  }
  ::close(fds[1]);
  char c = 0;
  ssize_t n = ::read(fds[0], &c, 1);  // returns at the point, or 0 when the child exited without it
  ::close(fds[0]);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  return n == 1;
}

std::vector<fs::path> journals_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".journal") out.push_back(e.path());
  return out;
}

std::vector<fs::path> gguf_files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".gguf") out.push_back(e.path());
  return out;
}

void expect_sound_index(const fs::path& db_path) {
  sqlite3* check = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &check), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(check, "PRAGMA integrity_check", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "ok");
  sqlite3_finalize(st);
  sqlite3_close(check);
}

TEST_F(Import, ProcessKilledMidBatchLeavesAConsistentIndex) {
  std::vector<fs::path> files;
  for (int i = 0; i < 12; ++i)
    files.push_back(make("bulk" + std::to_string(i) + ".gguf", {.seed = 100u + i, .elements = 60000}));
  lib.reset();
  // Killed with the 4th copy in its model folder and no row for it yet.
  ASSERT_TRUE(kill_child_at("import.placed", 4, [&] {
    auto l = open_test_library(home.path);
    for (auto& f : files) (void)l->import_paths({f}, {.mode = ImportMode::copy});
  }));
  EXPECT_EQ(gguf_files_under(home.path / "models").size(), 4u) << "the kill landed after the 4th placement";

  lib = open_test_library(home.path);  // recovery runs here
  ASSERT_TRUE(lib);
  auto all = lib->search({.limit = 1000});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
  EXPECT_EQ(gguf_files_under(home.path / "models").size(), 3u) << "the unrecorded copy is discarded";
  auto v = lib->verify();
  ASSERT_TRUE(v.ok());
  for (auto& o : *v) EXPECT_TRUE(o.ok) << o.id << ": " << o.detail;
  EXPECT_TRUE(fs::is_empty(home.path / "tmp")) << "journals and temp files of the dead importer are settled";
  expect_sound_index(home.path / "models.db");
  // And the whole batch imports afterwards, under the names it would have had.
  auto rest = lib->import_paths(files, {.mode = ImportMode::copy});
  for (auto& o : rest) ASSERT_TRUE(o.model) << o.error->to_string();
  EXPECT_EQ(lib->search({.limit = 1000})->size(), files.size());
  EXPECT_EQ(rest[3].model->id, "local/bulk3");
}

// `import --move` killed at each step: the user's file is at its source or committed, never lost.
class MoveKilled : public Import, public ::testing::WithParamInterface<std::string> {};

TEST_P(MoveKilled, TheFileIsAtItsSourceOrCommitted) {
  const std::string point = GetParam();
  fs::path file = make("precious.gguf", {.seed = 300, .elements = 20000});
  const std::string original = read_all(file);
  lib.reset();
  ASSERT_TRUE(kill_child_at(point, 1,
                            [&] {
                              auto l = open_test_library(home.path);
                              (void)l->import_paths({file}, {.mode = ImportMode::move});
                            }))
      << point << " was never reached";
  if (point == "import.placed") {  // the window that used to lose the file: moved, no row yet
    EXPECT_FALSE(fs::exists(file));
  }

  lib = open_test_library(home.path);  // recovery runs here
  ASSERT_TRUE(lib);
  auto all = lib->search({});
  ASSERT_TRUE(all.ok());
  if (point == "import.recorded") {
    ASSERT_EQ(all->size(), 1u);
    EXPECT_EQ(read_all(all->front().file), original);
    EXPECT_FALSE(fs::exists(file)) << "a committed move is finished";
  } else {
    EXPECT_TRUE(all->empty());
    ASSERT_TRUE(fs::exists(file)) << "the file went back to its source";
    EXPECT_EQ(read_all(file), original);
    EXPECT_TRUE(gguf_files_under(home.path / "models").empty());
  }
  EXPECT_TRUE(journals_in(home.path / "tmp").empty());
  // The move can be done (again) and ends with the bytes in the library only.
  auto again = lib->import_paths({file}, {.mode = ImportMode::move});
  if (point != "import.recorded") {
    ASSERT_TRUE(again[0].model) << again[0].error->to_string();
    EXPECT_FALSE(fs::exists(file));
  }
  auto v = lib->verify();
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 1u);
  EXPECT_TRUE(v->front().ok) << v->front().detail;
}

INSTANTIATE_TEST_SUITE_P(EveryStep, MoveKilled,
                         ::testing::Values("import.hashed", "import.journaled", "import.placed",
                                           "import.recorded"),
                         [](const auto& info) {
                           std::string name = info.param.substr(7);
                           name[0] = static_cast<char>(std::toupper(name[0]));
                           return name;
                         });

TEST_F(Import, MovedFileThatChangedMeanwhileGoesBack) {
  fs::path file = make("changing.gguf", {.seed = 310});
  // Between hashing and the move the file grows: the move is undone, nothing is recorded.
  library::faults::install({.crash_point = [&](std::string_view name) {
    if (name == "import.hashed") std::ofstream(file, std::ios::app) << "more";
  }});
  auto out = import({file}, {.mode = ImportMode::move});
  library::faults::install({});
  ASSERT_TRUE(out[0].error);
  EXPECT_NE(out[0].error->message().find("changed while"), std::string::npos) << out[0].error->message();
  EXPECT_TRUE(fs::exists(file));
  EXPECT_EQ(count(), 0u);
}

TEST_F(Import, HuggingFaceCacheBlobIsReferencedWhenLinkingFails) {
  fs::path repo = src.path / "hub/models--TheOrg--Tiny-GGUF";
  write_test_gguf(src.path / "content.gguf", {.seed = 42});
  std::string sha = FakeHub::sha256_hex(read_all(src.path / "content.gguf"));
  fs::create_directories(repo / "blobs");
  fs::create_directories(repo / "snapshots/abc123");
  fs::rename(src.path / "content.gguf", repo / "blobs" / sha);
  fs::create_symlink("../../blobs/" + sha, repo / "snapshots/abc123/tiny.Q4_K_M.gguf");
  // The cache on another file system: link() fails as it would there.
  library::faults::install({.link = [](const char*, const char*) {
    errno = EXDEV;
    return -1;
  }});
  auto out = import({repo});
  library::faults::install({});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].model) << out[0].error->to_string();
  const auto& m = *out[0].model;
  EXPECT_EQ(m.file, fs::canonical(repo / "blobs" / sha)) << "the blob itself, not a copy";
  EXPECT_TRUE(gguf_files_under(home.path / "models").empty());
  auto meta = nlohmann::json::parse(read_all(home.path / "models/theorg/tiny.q4_k_m/metadata.json"));
  EXPECT_EQ(meta["external_file"], m.file.string());
  ASSERT_TRUE(lib->remove(m.id).ok());
  EXPECT_TRUE(fs::exists(repo / "blobs" / sha)) << "removing a reference keeps the blob";
}

}  // namespace
}  // namespace xervo::testing
