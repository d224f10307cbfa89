// The record of a model made by conversion: source files with their sha256, tool, output type and
// date, read from the GGUF's xervo.conversion.* keys and the importer's options, kept in the index,
// in to_json (what `xervo models show` and the management API print) and across a reindex.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "gguf_writer.h"
#include "library/files.h"
#include "library_fixture.h"

namespace xervo::testing {
namespace {
namespace fs = std::filesystem;

const std::string kConfigSha(64, 'a');
const std::string kWeightsSha(64, 'b');
constexpr int64_t kConvertedAt = 1764600000;  // 2025-12-01T14:40:00Z

class Conversion : public ::testing::Test {
 protected:
  void SetUp() override {
    lib = open_test_library(home.path);
    ASSERT_TRUE(lib);
    fs::create_directories(checkpoint);
  }
  // A GGUF as `xervo models convert` writes it: the converter's keys with two source files.
  fs::path converted(const std::string& name, uint32_t seed = 1) {
    fs::path p = src.path / name;
    write_test_gguf(
        p, {.architecture = "bert",
            .pooling_type = 1,
            .seed = seed,
            .conversion_tool = "xervo models convert (hfconvert 1)",
            .conversion_type = "f16",
            .conversion_sources = {kConfigSha + "  config.json", kWeightsSha + "  model.safetensors"}});
    return p;
  }
  LibraryModel import_one(const fs::path& file, ImportOptions options = {}) {
    auto out = lib->import_paths({file}, options);
    EXPECT_EQ(out.size(), 1u);
    if (out.empty() || !out[0].model) {
      ADD_FAILURE() << (out.empty() ? "no outcome" : out[0].error->to_string());
      return {};
    }
    return *out[0].model;
  }
  ImportOptions from_checkpoint() const {
    ImportOptions o;
    o.mode = ImportMode::move;
    o.converted_from = checkpoint;
    o.converted_at = kConvertedAt;
    return o;
  }
  LibraryOptions options() const {
    LibraryOptions o;
    o.home = home.path;
    o.hub_endpoint = "http://127.0.0.1:1";
    return o;
  }
  // Drops the index file and rebuilds it from the model folders.
  std::shared_ptr<ModelLibrary> reindexed() {
    lib.reset();
    fs::remove(home.path / "models.db");
    auto report = ModelLibrary::reindex(options());
    EXPECT_TRUE(report.ok()) << report.error().to_string();
    return open_test_library(home.path);
  }

  static void expect_full_record(const LibraryModel& m, const fs::path& checkpoint) {
    ASSERT_TRUE(m.conversion) << m.id << " lost its conversion record";
    const ModelConversion& c = *m.conversion;
    EXPECT_EQ(c.tool, "xervo models convert (hfconvert 1)");
    EXPECT_EQ(c.output_type, "f16");
    EXPECT_EQ(c.converted_at, kConvertedAt);
    EXPECT_EQ(c.checkpoint, checkpoint.string());
    ASSERT_EQ(c.sources.size(), 2u);
    EXPECT_EQ(c.sources[0].path, "config.json");
    EXPECT_EQ(c.sources[0].sha256, kConfigSha);
    EXPECT_EQ(c.sources[1].path, "model.safetensors");
    EXPECT_EQ(c.sources[1].sha256, kWeightsSha);
    EXPECT_EQ(m.source_path, checkpoint.string()) << "the record points at the checkpoint, not a temp file";
  }

  TempDir home, src;
  fs::path checkpoint = src.path / "all-MiniLM-L6-v2";
  std::shared_ptr<ModelLibrary> lib;
};

TEST_F(Conversion, ImportRecordsSourceHashesToolTypeDateAndCheckpoint) {
  auto m = import_one(converted("minilm.gguf"), from_checkpoint());
  expect_full_record(m, checkpoint);
  auto stored = lib->get(m.id);  // from the index, not the import's in-memory value
  ASSERT_TRUE(stored.ok()) << stored.error().to_string();
  expect_full_record(*stored, checkpoint);
}

TEST_F(Conversion, ToJsonCarriesTheRecordForShowAndTheApi) {
  auto m = import_one(converted("minilm.gguf"), from_checkpoint());
  auto j = to_json(*lib->get(m.id));
  ASSERT_TRUE(j.contains("conversion")) << j.dump();
  const auto& c = j["conversion"];
  EXPECT_EQ(c["tool"], "xervo models convert (hfconvert 1)");
  EXPECT_EQ(c["output_type"], "f16");
  EXPECT_EQ(c["converted_at"], kConvertedAt);
  EXPECT_EQ(c["checkpoint"], checkpoint.string());
  ASSERT_EQ(c["sources"].size(), 2u);
  EXPECT_EQ(c["sources"][1]["path"], "model.safetensors");
  EXPECT_EQ(c["sources"][1]["sha256"], kWeightsSha);
}

TEST_F(Conversion, RecordSurvivesAReindexFromTheFiles) {
  auto m = import_one(converted("minilm.gguf"), from_checkpoint());
  auto again = reindexed();
  ASSERT_TRUE(again);
  auto stored = again->get(m.id);
  ASSERT_TRUE(stored.ok()) << stored.error().to_string();
  expect_full_record(*stored, checkpoint);
}

TEST_F(Conversion, PlainGgufHasNoConversion) {
  fs::path p = src.path / "plain.gguf";
  write_test_gguf(p, {.architecture = "llama", .seed = 3});
  auto m = import_one(p);
  EXPECT_FALSE(m.conversion);
  EXPECT_FALSE(to_json(*lib->get(m.id)).contains("conversion"));
  auto again = reindexed();
  EXPECT_FALSE(again->get(m.id)->conversion);
}

TEST_F(Conversion, ConvertedFileImportedAsAFileIsDatedByItsModificationTime) {
  fs::path p = converted("made-earlier.gguf");
  // The converter writes its output once; a file converted a day earlier says so by its mtime.
  const int64_t expected = kConvertedAt - 86400;
  const struct timespec times[2] = {{expected, 0}, {expected, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, 0), 0);
  auto m = import_one(p, {.mode = ImportMode::copy});
  ASSERT_TRUE(m.conversion);
  EXPECT_EQ(m.conversion->converted_at, expected);
  EXPECT_EQ(m.conversion->checkpoint, "") << "a file converted elsewhere names no checkpoint";
  EXPECT_EQ(m.conversion->sources.size(), 2u);
  EXPECT_EQ(m.source_path, p.string());
}

TEST_F(Conversion, SameBytesImportedAgainKeepTheFirstConversionRecord) {
  fs::path p = converted("minilm.gguf");
  fs::copy_file(p, src.path / "again.gguf");
  auto first = import_one(p, from_checkpoint());
  ImportOptions later = from_checkpoint();
  later.converted_at = kConvertedAt + 3600;
  later.converted_from = src.path / "elsewhere";
  auto out = lib->import_paths({src.path / "again.gguf"}, later);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].model) << out[0].error->to_string();
  EXPECT_TRUE(out[0].already_present);
  expect_full_record(*lib->get(first.id), checkpoint);
}

TEST_F(Conversion, HostileSourceListIsBoundedAndOddLinesKeepTheirText) {
  std::vector<std::string> lines = {"not a hash  config.json", kConfigSha + " one-space.json"};
  for (int i = 0; i < 400; ++i) lines.push_back(kWeightsSha + "  shard-" + std::to_string(i));
  fs::path p = src.path / "hostile.gguf";
  write_test_gguf(p, {.architecture = "bert",
                      .pooling_type = 1,
                      .conversion_tool = std::string(10000, 't'),
                      .conversion_type = "f16",
                      .conversion_sources = lines});
  auto m = import_one(p);
  ASSERT_TRUE(m.conversion);
  EXPECT_EQ(m.conversion->tool.size(), 4096u);
  ASSERT_EQ(m.conversion->sources.size(), 256u);
  EXPECT_EQ(m.conversion->sources[0].path, "not a hash  config.json");
  EXPECT_EQ(m.conversion->sources[0].sha256, "");
  EXPECT_EQ(m.conversion->sources[1].path, kConfigSha + " one-space.json");
  EXPECT_EQ(m.conversion->sources[2].sha256, kWeightsSha);
  EXPECT_EQ(m.conversion->sources[2].path, "shard-0");
}

TEST_F(Conversion, DamagedRecordInMetadataJsonStillReindexesFromTheFile) {
  auto m = import_one(converted("minilm.gguf"), from_checkpoint());
  fs::path meta = m.file.parent_path() / "metadata.json";
  auto j = nlohmann::json::parse(std::ifstream(meta));
  j["conversion"] = {{"converted_at", "yesterday"}, {"checkpoint", 42}, {"sources", "all of them"}};
  std::ofstream(meta) << j.dump();
  auto again = reindexed();
  auto stored = again->get(m.id);
  ASSERT_TRUE(stored.ok()) << stored.error().to_string();
  ASSERT_TRUE(stored->conversion) << "the GGUF still says it is a conversion";
  EXPECT_EQ(stored->conversion->converted_at, 0) << "a date of the wrong type reads as unknown";
  EXPECT_EQ(stored->conversion->checkpoint, "");
  EXPECT_EQ(stored->conversion->sources.size(), 2u) << "sources come from the file again";
}

}  // namespace
}  // namespace xervo::testing
