// whisper.cpp model files in the library: import and index (task transcribe, architecture whisper,
// format ggml, a .bin in the model's folder, reindexed from the files), hostile files refused at
// import with the reason, folder scans that take whisper files and leave other .bin files alone,
// pulls of hf:ORG/REPO:MODEL from the stand-in Hub (the ggml-MODEL.bin file, resume, sha256, no
// "..", nothing that is not a model), requirements, and `auto:transcribe` and a bare library id
// through the library resolver.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "gguf_writer.h"
#include "hub_server.h"
#include "library/mapping.h"
#include "library/model_file.h"
#include "library_fixture.h"
#include "whisper_writer.h"

namespace xervo::testing {
namespace {
namespace fs = std::filesystem;

constexpr uint64_t MiB = 1024 * 1024;

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::vector<fs::path> files_under(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->path().string().ends_with(ext)) out.push_back(it->path());
  return out;
}

// A multilingual base-sized file quantized to Q5_1 (ggml file type 9).
WhisperSpec base_q5_1(int seed) {
  WhisperSpec s;
  s.n_vocab = 51865;
  s.n_audio_state = s.n_text_state = 512;
  s.n_audio_head = s.n_text_head = 8;
  s.n_audio_layer = s.n_text_layer = 6;
  s.ftype = 9;
  s.seed = seed;
  return s;
}

class WhisperImport : public ::testing::Test {
 protected:
  void SetUp() override {
    lib = open_test_library(home.path);
    ASSERT_TRUE(lib);
  }
  size_t count() {
    auto all = lib->search({.limit = 1000});
    return all.ok() ? all->size() : 0;
  }
  TempDir home, src;
  std::shared_ptr<ModelLibrary> lib;
};

TEST_F(WhisperImport, AFileIsIndexedForTranscriptionWithItsFacts) {
  auto tiny = write_whisper_file(src.path / "ggml-tiny.en.bin");
  auto base = write_whisper_file(src.path / "ggml-base.bin", base_q5_1(2));
  auto out = lib->import_paths({tiny, base}, {});
  ASSERT_EQ(out.size(), 2u);
  for (const auto& o : out) ASSERT_FALSE(o.error) << o.error->to_string();
  const LibraryModel& m = *out[0].model;
  EXPECT_EQ(m.id, "local/ggml-tiny.en");
  EXPECT_EQ(m.format, "ggml");
  EXPECT_EQ(m.architecture, "whisper");
  ASSERT_TRUE(m.task);
  EXPECT_EQ(*m.task, ModelTask::transcribe);
  EXPECT_EQ(m.quantization, "F16");
  EXPECT_EQ(m.block_count, 4u);
  EXPECT_EQ(m.embedding_length, 384u);
  EXPECT_EQ(m.context_length, 448u);
  EXPECT_EQ(m.size_bytes, fs::file_size(tiny));
  EXPECT_TRUE(has(m.tags, "whisper") && has(m.tags, "english-only")) << nlohmann::json(m.tags).dump();
  EXPECT_NE(m.description.find("English-only"), std::string::npos) << m.description;
  EXPECT_EQ(m.file, home.path / "models" / "local" / "ggml-tiny.en" / "ggml-tiny.en.bin")
      << "a whisper.cpp file keeps its .bin in the library";
  EXPECT_TRUE(fs::is_regular_file(m.file));
  const LibraryModel& b = *out[1].model;
  EXPECT_EQ(b.quantization, "Q5_1");
  EXPECT_EQ(b.block_count, 6u);
  EXPECT_TRUE(has(b.tags, "multilingual")) << nlohmann::json(b.tags).dump();

  // list, search and show find them by what they are.
  EXPECT_EQ(lib->search({.task = ModelTask::transcribe})->size(), 2u);
  EXPECT_EQ(lib->search({.text = "whisper"})->size(), 2u);
  EXPECT_EQ(lib->search({.tag = "multilingual"})->size(), 1u);
  EXPECT_EQ(lib->search({.architecture = "whisper", .quantization = "q5_1"})->size(), 1u);
  EXPECT_EQ(to_json(m)["format"], "ggml");

  // The whisper provider can use it: the requirements resolve, naming whisper.cpp.
  auto contract = resolve_model_dependency_requirements(*lib, m.id, "", "cpu");
  EXPECT_EQ(contract["state"], "resolved") << contract.dump(2);
  EXPECT_NE(contract.dump().find("whisper.cpp reads 'whisper'"), std::string::npos) << contract.dump(2);

  // Rebuilt from the files alone, the records are the same.
  lib.reset();
  LibraryOptions options;
  options.home = home.path;
  auto report = ModelLibrary::reindex(options);
  ASSERT_TRUE(report.ok()) << report.error().to_string();
  EXPECT_EQ(report->indexed, 2) << (report->skipped.empty() ? "" : report->skipped[0].reason);
  lib = open_test_library(home.path);
  auto again = lib->get("local/ggml-tiny.en");
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(again->file, m.file);
  EXPECT_EQ(again->architecture, "whisper");
  EXPECT_EQ(again->sha256, m.sha256);
}

TEST_F(WhisperImport, HostileFilesAreRefusedWithTheReasonAndNothingIsKept) {
  struct Case {
    std::string name;
    WhisperSpec spec;
    std::string says;
  };
  auto with = [](auto change) {
    WhisperSpec s;
    change(s);
    return s;
  };
  std::vector<Case> cases = {
      {"huge-vocab.bin", with([](WhisperSpec& s) { s.n_vocab = 0x7fffffff; }), "vocabulary size"},
      {"huge-layers.bin", with([](WhisperSpec& s) { s.n_text_layer = 1 << 30; }), "layer counts"},
      {"huge-width.bin", with([](WhisperSpec& s) { s.n_audio_state = 1 << 28; }), "widths"},
      {"odd-heads.bin", with([](WhisperSpec& s) { s.n_audio_head = 7; }), "head counts"},
      {"mels.bin", with([](WhisperSpec& s) { s.n_mels = 81; }), "mel bands"},
      {"filters.bin", with([](WhisperSpec& s) { s.n_fft = 1 << 30; }), "mel filter bank"},
      {"tokens.bin", with([](WhisperSpec& s) { s.n_tokens = 1 << 30; }), "a vocabulary of"},
      {"token-length.bin", with([](WhisperSpec& s) { s.tokens = {std::string(5000, 'a')}; }), "token 0"},
      {"cut-token.bin", with([](WhisperSpec& s) {
         s.tokens = {"abc", std::string(900, 'b')};
         s.tensor_bytes = 0;
         s.cut_to = 4 * 14 + 80 * 201 * 4 + 4 + (4 + 3) + 4 + 100;  // inside the second token
       }),
       "token 1"},
      {"no-tensors.bin", with([](WhisperSpec& s) { s.tensor_bytes = 0; }), "no tensors"},
      {"cut-header.bin", with([](WhisperSpec& s) { s.cut_to = 20; }), "shorter than a model header"},
      {"cut-filters.bin", with([](WhisperSpec& s) { s.cut_to = 4000; }), "truncated"},
      {"ftype.bin", with([](WhisperSpec& s) { s.ftype = -3; }), "unknown tensor type"},
      {"magic.bin", with([](WhisperSpec& s) { s.magic = 0x12345678; }), "not a GGUF"},
  };
  for (const auto& c : cases) {
    auto p = write_whisper_file(src.path / c.name, c.spec);
    auto out = lib->import_paths({p}, {});
    ASSERT_EQ(out.size(), 1u) << c.name;
    ASSERT_TRUE(out[0].error) << c.name << " was imported";
    EXPECT_EQ(out[0].error->code(), ErrorCode::invalid_input) << c.name << ": " << out[0].error->to_string();
    EXPECT_NE(out[0].error->message().find(c.says), std::string::npos)
        << c.name << ": " << out[0].error->message();
    EXPECT_NE(out[0].error->message().find(c.name), std::string::npos) << "names the file";
  }
  std::ofstream(src.path / "empty.bin");
  ASSERT_EQ(::mkfifo((src.path / "fifo.bin").c_str(), 0644), 0);  // reading it would block
  auto odd = lib->import_paths({src.path / "empty.bin", src.path / "fifo.bin"}, {});
  ASSERT_EQ(odd.size(), 2u);
  EXPECT_TRUE(odd[0].error && odd[1].error);
  EXPECT_EQ(count(), 0u);
  EXPECT_TRUE(files_under(home.path, ".bin").empty()) << "a refused file costs no copy";
}

TEST_F(WhisperImport, FolderScanTakesWhisperFilesAndLeavesOtherBinFilesAlone) {
  write_whisper_file(src.path / "whisper" / "ggml-tiny.en.bin");
  write_whisper_file(src.path / "whisper" / "ggml-bad.bin", {.n_vocab = 0x7fffffff});
  std::ofstream(src.path / "whisper" / "pytorch_model.bin", std::ios::binary) << std::string(5000, '\x80');
  write_test_gguf(src.path / "whisper" / "embedder.gguf", {.seed = 3});
  ASSERT_EQ(::mkfifo((src.path / "whisper" / "pipe.bin").c_str(), 0644), 0);  // skipped, never opened
  auto out = lib->import_paths({src.path / "whisper"}, {});
  ASSERT_EQ(out.size(), 3u) << "the PyTorch file and the pipe are not models: skipped, not errors";
  int ok = 0, bad = 0;
  for (const auto& o : out) {
    if (o.error) {
      ++bad;
      EXPECT_NE(o.error->message().find("ggml-bad.bin"), std::string::npos) << o.error->message();
    } else {
      ++ok;
    }
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(bad, 1);
  EXPECT_EQ(lib->search({.architecture = "whisper"})->size(), 1u);
}

TEST_F(WhisperImport, ThePackagedTinyEnModelIsIndexedWithItsFacts) {
  const fs::path packaged = packaged_whisper_model();
  if (packaged.empty())
    GTEST_SKIP() << "the packaged whisper-tiny.en.bin is not installed (scripts/bootstrap)";
  auto out = lib->import_paths({packaged}, {.mode = ImportMode::reference});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_FALSE(out[0].error) << out[0].error->to_string();
  const LibraryModel& m = *out[0].model;
  EXPECT_EQ(m.architecture, "whisper");
  EXPECT_EQ(*m.task, ModelTask::transcribe);
  EXPECT_EQ(m.format, "ggml");
  EXPECT_EQ(m.block_count, 4u) << "Whisper tiny: 4 decoder layers";
  EXPECT_EQ(m.embedding_length, 384u);
  EXPECT_EQ(m.quantization, "F16");
  EXPECT_TRUE(has(m.tags, "english-only"));
  EXPECT_EQ(m.size_bytes, fs::file_size(packaged));
}

TEST_F(WhisperImport, MappingsTakeWhisperFilesOnlyWhenTheirFilterAsksForThem) {
  auto out = lib->import_paths({write_whisper_file(src.path / "ggml-tiny.en.bin")}, {});
  ASSERT_FALSE(out[0].error) << out[0].error->to_string();
  const LibraryModel& m = *out[0].model;
  library::MappingConfig gguf_app;  // the default: "{publisher}/{name}.gguf" for a GGUF app
  EXPECT_FALSE(library::mapping_matches(gguf_app, m)) << "a whisper.cpp file is no GGUF";
  library::MappingConfig speech = gguf_app;
  speech.task = ModelTask::transcribe;
  speech.pattern = "{name}.bin";
  EXPECT_TRUE(library::mapping_matches(speech, m));
  library::MappingConfig by_arch = gguf_app;
  by_arch.architecture = "whisper";
  EXPECT_TRUE(library::mapping_matches(by_arch, m));
}

class WhisperHub : public ::testing::Test {
 protected:
  void SetUp() override {
    tiny = whisper_bytes({.tensor_bytes = 400000});
    base_q = whisper_bytes(base_q5_1(5));
    hub.add_file(kRepo, "ggml-tiny.en.bin", tiny);
    hub.add_file(kRepo, "ggml-base.en-q5_1.bin", base_q);
    hub.add_file(kRepo, "ggml-tiny.en-encoder.mlmodelc.zip", std::string(3000, 'z'));
    hub.add_file(kRepo, "README.md", "# whisper.cpp models");
    lib = open_test_library(home.path, hub.endpoint());
    ASSERT_TRUE(lib);
  }
  static constexpr const char* kRepo = "ggerganov/whisper.cpp";
  FakeHub hub;
  TempDir home;
  std::string tiny, base_q;
  std::shared_ptr<ModelLibrary> lib;
};

TEST_F(WhisperHub, ARefByModelNamePullsThatGgmlFile) {
  auto m = lib->pull("hf:ggerganov/whisper.cpp:tiny.en");
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->hub_file, "ggml-tiny.en.bin");
  EXPECT_EQ(m->id, "ggerganov/ggml-tiny.en");
  EXPECT_EQ(m->sha256, FakeHub::sha256_hex(tiny));
  EXPECT_EQ(m->state, LibraryModelState::ready);
  EXPECT_EQ(*m->task, ModelTask::transcribe);
  EXPECT_EQ(m->file.filename(), "ggml-tiny.en.bin");
  EXPECT_TRUE(files_under(home.path / "models", ".incomplete").empty());
  auto q = lib->pull("hf:ggerganov/whisper.cpp:base.en-q5_1");
  ASSERT_TRUE(q.ok()) << q.error().to_string();
  EXPECT_EQ(q->hub_file, "ggml-base.en-q5_1.bin");
  EXPECT_EQ(q->quantization, "Q5_1");
  // Offline first: the library's copy answers the same ref without a listing.
  const int listings = hub.listing_requests.load();
  auto again = lib->pull("hf:ggerganov/whisper.cpp:TINY.EN");
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(again->id, m->id);
  EXPECT_EQ(hub.listing_requests.load(), listings);
  EXPECT_TRUE(lib->find("hf:ggerganov/whisper.cpp:tiny.en").ok());
  auto none = lib->pull("hf:ggerganov/whisper.cpp:medium");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::model_not_found);
  EXPECT_NE(none.error().message().find("ggml-tiny.en.bin"), std::string::npos) << "lists what is there";
}

TEST_F(WhisperHub, ADroppedDownloadResumesAndTheWholeIsVerified) {
  hub.drop_after_bytes = static_cast<int>(tiny.size() / 2);
  auto m = lib->pull("hf:ggerganov/whisper.cpp:tiny.en");
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->sha256, FakeHub::sha256_hex(tiny));
  auto ranges = hub.ranges();
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[1], "bytes=" + std::to_string(tiny.size() / 2) + "-");
  EXPECT_EQ(hub.blob_bytes_sent.load(), tiny.size()) << "no byte downloaded twice";
}

TEST_F(WhisperHub, WrongBytesFailTheHashCheckAndLeaveNoModel) {
  hub.corrupt = true;
  auto m = lib->pull("hf:ggerganov/whisper.cpp:tiny.en");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find(FakeHub::sha256_hex(tiny)), std::string::npos) << m.error().message();
  EXPECT_TRUE(files_under(home.path / "models", ".bin").empty());
  EXPECT_TRUE(lib->search({.state = LibraryModelState::ready})->empty());
}

TEST_F(WhisperHub, RefusesPathsOutOfTheRepoAndFilesThatAreNotModels) {
  auto up = lib->pull("hf:ggerganov/whisper.cpp/../ggml-tiny.en.bin");
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.error().code(), ErrorCode::invalid_input);
  for (const char* file : {"README.md", "ggml-tiny.en-encoder.mlmodelc.zip"}) {
    auto r = lib->pull(std::string("hf:ggerganov/whisper.cpp/") + file);
    ASSERT_FALSE(r.ok()) << file;
    EXPECT_EQ(r.error().code(), ErrorCode::invalid_input) << r.error().to_string();
    EXPECT_NE(r.error().message().find("not a model file"), std::string::npos) << r.error().message();
  }
  EXPECT_EQ(hub.blob_requests.load(), 0) << "refused before any download";
  // A .bin that is not whisper.cpp's, and a damaged whisper.cpp file: downloaded, then refused.
  hub.add_file("Other/Weights", "pytorch_model.bin", std::string(5000, '\x80'));
  auto torch = lib->pull("hf:Other/Weights/pytorch_model.bin");
  ASSERT_FALSE(torch.ok());
  EXPECT_EQ(torch.error().code(), ErrorCode::invalid_input) << torch.error().to_string();
  EXPECT_EQ(torch.error().message().find("to resume"), std::string::npos) << torch.error().message();
  EXPECT_TRUE(files_under(home.path / "models", ".incomplete").empty()) << "refused bytes are not kept";
  hub.add_file("Other/Hostile", "ggml-tiny.en.bin", whisper_bytes({.n_vocab = 0x7fffffff}));
  auto hostile = lib->pull("hf:Other/Hostile:tiny.en");
  ASSERT_FALSE(hostile.ok());
  EXPECT_NE(hostile.error().message().find("vocabulary size"), std::string::npos)
      << hostile.error().message();
  EXPECT_TRUE(lib->search({.state = LibraryModelState::ready})->empty());
  // A listing naming a whisper file outside the repository is refused whole.
  hub.set_listing("Bad/Escape", {{"sha", "c0ffee"},
                                 {"siblings",
                                  {{{"rfilename", "../../ggml-tiny.en.bin"},
                                    {"lfs", {{"sha256", std::string(64, 'a')}, {"size", 10}}}}}}});
  auto escape = lib->pull("hf:Bad/Escape:tiny.en");
  ASSERT_FALSE(escape.ok());
  EXPECT_NE(escape.error().message().find("unsafe"), std::string::npos) << escape.error().message();
  EXPECT_FALSE(fs::exists(home.path.parent_path() / "ggml-tiny.en.bin"));
}

class WhisperAuto : public WhisperHub {
 protected:
  // A catalog of the stand-in Hub's two whisper files: the better one needs 512 GiB.
  nlohmann::json settings() {
    nlohmann::json catalog = {{"version", 1},
                              {"tasks",
                               {{"transcribe",
                                 {{{"model", "hf:ggerganov/whisper.cpp:tiny.en"},
                                   {"quantization", "F16"},
                                   {"file_bytes", tiny.size()},
                                   {"memory_bytes", 40 * MiB},
                                   {"tier", 1},
                                   {"license", "mit"}},
                                  {{"model", "hf:ggerganov/whisper.cpp:base.en-q5_1"},
                                   {"quantization", "Q5_1"},
                                   {"file_bytes", base_q.size()},
                                   {"memory_bytes", 1ull << 39},
                                   {"tier", 2},
                                   {"license", "mit"}}}}}}};
    std::ofstream(dir.path / "catalog.json") << catalog.dump();
    return {{"home", home.path.string()},
            {"hub_endpoint", hub.endpoint()},
            {"auto_catalog", (dir.path / "catalog.json").string()}};
  }
  TempDir dir;
};

TEST_F(WhisperAuto, AutoTranscribePullsTheWhisperFileThatFitsAndABareIdResolves) {
  AutoModelContext context;
  context.memory_budget = 1024 * MiB;
  auto resolver = make_library_resolver(settings(), {}, context);
  ASSERT_TRUE(resolver->handles("auto:transcribe"));
  auto path = resolver->resolve("auto:transcribe", true);
  ASSERT_TRUE(path.ok()) << path.error().to_string();
  EXPECT_EQ(path->filename(), "ggml-tiny.en.bin") << "the tier-2 file needs more than the budget";
  EXPECT_TRUE(library::read_model_file(*path).ok());
  EXPECT_GT(hub.blob_requests.load(), 0) << "pulled on first use";
  // The library's copy by its id, as an alias with provider = "whisper" names it.
  ASSERT_TRUE(resolver->handles("ggerganov/ggml-tiny.en"));
  auto by_id = resolver->resolve("ggerganov/ggml-tiny.en", false);
  ASSERT_TRUE(by_id.ok()) << by_id.error().to_string();
  EXPECT_EQ(*by_id, *path);
  const int blobs = hub.blob_requests.load();
  auto again = make_library_resolver(settings(), {}, context)->resolve("auto:transcribe", true);
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(*again, *path);
  EXPECT_EQ(hub.blob_requests.load(), blobs) << "a later process uses the library's copy";
}

TEST_F(WhisperAuto, NothingFitsIsInsufficientMemory) {
  AutoModelContext context;
  context.memory_budget = 10 * MiB;
  auto r = make_library_resolver(settings(), {}, context)->resolve("auto:transcribe", true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::insufficient_memory) << r.error().to_string();
  EXPECT_NE(r.error().message().find("whisper.cpp:tiny.en"), std::string::npos) << r.error().message();
  EXPECT_EQ(hub.blob_requests.load(), 0);
}

}  // namespace
}  // namespace xervo::testing
