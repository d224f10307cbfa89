// Import: GGUF facts, deduplication, link/copy/move, Hugging Face cache and Ollama folders, every
// kind of bad input, and a process killed in the middle of an import.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "gguf_writer.h"
#include "hub_server.h"
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

TEST_F(Import, ProcessKilledMidImportLeavesAConsistentIndex) {
  std::vector<fs::path> files;
  for (int i = 0; i < 40; ++i)
    files.push_back(make("bulk" + std::to_string(i) + ".gguf", {.seed = 100u + i, .elements = 600000}));
  lib.reset();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto l = open_test_library(home.path);
    for (auto& f : files) (void)l->import_paths({f}, {.mode = ImportMode::copy});
    ::_exit(0);
  }
  // Kill it once a few models are in (polling the index as another process would).
  sqlite3* db = nullptr;
  int seen = 0;
  for (int i = 0; i < 2000 && seen < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!db &&
        sqlite3_open_v2((home.path / "models.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(db);
      db = nullptr;
      continue;
    }
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM models", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      seen = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_GE(seen, 3) << "the child never imported anything";

  lib = open_test_library(home.path);  // recovery runs here
  ASSERT_TRUE(lib);
  auto all = lib->search({.limit = 1000});
  ASSERT_TRUE(all.ok());
  EXPECT_GE(all->size(), 3u);
  EXPECT_LT(all->size(), files.size()) << "the kill should land mid-batch";
  auto v = lib->verify();
  ASSERT_TRUE(v.ok());
  for (auto& o : *v) EXPECT_TRUE(o.ok) << o.id << ": " << o.detail;
  EXPECT_TRUE(fs::is_empty(home.path / "tmp")) << "temp files of the dead importer are cleaned";
  // The index file itself is sound.
  sqlite3* check = nullptr;
  ASSERT_EQ(sqlite3_open((home.path / "models.db").c_str(), &check), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(check, "PRAGMA integrity_check", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "ok");
  sqlite3_finalize(st);
  sqlite3_close(check);
  // And the rest of the batch imports fine afterwards.
  auto rest = lib->import_paths(files, {.mode = ImportMode::copy});
  for (auto& o : rest) EXPECT_TRUE(o.model) << o.error->to_string();
  EXPECT_EQ(lib->search({.limit = 1000})->size(), files.size());
}

}  // namespace
}  // namespace xervo::testing
