// The index: schema migrations, full-text search, filters and sorting.
#include <gtest/gtest.h>

#include <algorithm>

#include "library/model_index.h"
#include "library_fixture.h"

namespace xervo::testing {
namespace {
using library::ModelIndex;

LibraryModel record(std::string publisher, std::string name, std::string arch, std::optional<ModelTask> task,
                    std::string quant, uint64_t size, std::vector<std::string> tags = {},
                    std::string description = "") {
  LibraryModel m;
  m.publisher = publisher;
  m.name = name;
  m.id = publisher + "/" + name;
  m.architecture = arch;
  m.task = task;
  m.quantization = quant;
  m.size_bytes = size;
  m.tags = tags;
  m.description = description;
  m.sha256 = std::string(64, 'a');
  m.file = "/nowhere/" + name + ".gguf";
  return m;
}

std::vector<std::string> ids(const std::vector<LibraryModel>& models) {
  std::vector<std::string> out;
  for (const auto& m : models) out.push_back(m.id);
  return out;
}

class Index : public ::testing::Test {
 protected:
  void SetUp() override {
    auto index = ModelIndex::open(dir.path / "models.db", dir.path, 1000);
    ASSERT_TRUE(index.ok()) << index.error().to_string();
    index_.emplace(std::move(*index));
    auto add = [&](LibraryModel m, int64_t updated) {
      m.updated_at = updated;
      ASSERT_TRUE(index_->upsert(m).ok());
    };
    add(record("meta", "llama-3-8b-instruct-q4_k_m", "llama", ModelTask::generate, "Q4_K_M", 4'900'000'000,
               {"chat"}, "An instruction tuned model"),
        100);
    add(record("qwen", "qwen2.5-0.5b-instruct", "qwen2", ModelTask::generate, "Q8_0", 500'000'000,
               {"chat", "small"}),
        300);
    add(record("baai", "bge-small-en-v1.5", "bert", ModelTask::embed, "F16", 67'000'000, {"retrieval"},
               "English sentence embeddings"),
        200);
    add(record("baai", "bge-reranker-base", "bert", ModelTask::rerank, "F16", 560'000'000, {"retrieval"}),
        50);
    auto failed = record("local", "broken-download", "llama", ModelTask::generate, "Q4_K_M", 10);
    failed.state = LibraryModelState::failed;
    add(failed, 10);
  }

  std::vector<std::string> search(LibraryQuery q) {
    auto r = index_->search(q);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
    return r.ok() ? ids(*r) : std::vector<std::string>{};
  }

  TempDir dir;
  std::optional<ModelIndex> index_;
};

TEST_F(Index, FreshIndexHasTheLatestSchemaVersion) {
  auto v = index_->schema_version();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, ModelIndex::latest_schema_version());
  EXPECT_GE(ModelIndex::latest_schema_version(), 2);
}

TEST_F(Index, OlderSchemaIsMigratedStepByStep) {
  // Roll the file back to schema 1 (drop what steps 2 and 5 add), then reopen.
  ASSERT_TRUE(index_->db()
                  .exec("DROP INDEX models_state; DROP INDEX models_quant; DROP INDEX models_arch; "
                        "ALTER TABLE models DROP COLUMN conversion; "
                        "DELETE FROM schema_version WHERE version >= 2; PRAGMA user_version = 1")
                  .ok());
  index_.reset();
  auto reopened = ModelIndex::open(dir.path / "models.db", dir.path, 1000);
  ASSERT_TRUE(reopened.ok()) << reopened.error().to_string();
  EXPECT_EQ(*reopened->schema_version(), ModelIndex::latest_schema_version());
  EXPECT_EQ(reopened->search({.text = "qwen"})->size(), 1u);  // full-text index rebuilt
  auto stmt = reopened->db().prepare("SELECT count(*) FROM sqlite_master WHERE name = 'models_state'");
  ASSERT_TRUE(stmt.ok());
  ASSERT_TRUE(*stmt->step());
  EXPECT_EQ(stmt->column_int(0), 1);
  auto rows = reopened->all();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 5u);  // data kept
}

TEST_F(Index, NewerSchemaThanThisBuildIsRefused) {
  ASSERT_TRUE(index_->db().exec("PRAGMA user_version = 99").ok());
  index_.reset();
  auto reopened = ModelIndex::open(dir.path / "models.db", dir.path, 1000);
  ASSERT_FALSE(reopened.ok());
  EXPECT_NE(reopened.error().message().find("upgrade xervo"), std::string::npos);
}

TEST_F(Index, FullTextFindsNamesPublishersTagsAndDescriptions) {
  // The name weighs more than the architecture column.
  EXPECT_EQ(search({.text = "llama"}),
            (std::vector<std::string>{"meta/llama-3-8b-instruct-q4_k_m", "local/broken-download"}));
  EXPECT_EQ(search({.text = "baai", .sort = LibrarySort::name}),
            (std::vector<std::string>{"baai/bge-reranker-base", "baai/bge-small-en-v1.5"}));
  EXPECT_EQ(search({.text = "retrieval rerank"}), std::vector<std::string>{"baai/bge-reranker-base"});
  EXPECT_EQ(search({.text = "sentence"}), std::vector<std::string>{"baai/bge-small-en-v1.5"});
  EXPECT_EQ(search({.text = "instr", .sort = LibrarySort::name}),  // prefix match
            (std::vector<std::string>{"meta/llama-3-8b-instruct-q4_k_m", "qwen/qwen2.5-0.5b-instruct"}));
  EXPECT_TRUE(search({.text = "mistral"}).empty());
}

TEST_F(Index, QueryTextNeverReachesFtsSyntax) {
  EXPECT_TRUE(search({.text = "\"unbalanced NEAR( OR *"}).empty());
  EXPECT_EQ(search({.text = "llama-3 !!"}).size(), 1u);
  EXPECT_EQ(search({.text = "   "}).size(), 5u);  // no words: every model
}

TEST_F(Index, FiltersCombineWithText) {
  EXPECT_EQ(search({.task = ModelTask::embed}), std::vector<std::string>{"baai/bge-small-en-v1.5"});
  EXPECT_EQ(search({.architecture = "bert", .sort = LibrarySort::name}),
            (std::vector<std::string>{"baai/bge-reranker-base", "baai/bge-small-en-v1.5"}));
  EXPECT_EQ(search({.quantization = "q8_0"}), std::vector<std::string>{"qwen/qwen2.5-0.5b-instruct"});
  EXPECT_EQ(search({.min_size = 100'000'000, .max_size = 1'000'000'000, .sort = LibrarySort::size}),
            (std::vector<std::string>{"baai/bge-reranker-base", "qwen/qwen2.5-0.5b-instruct"}));
  EXPECT_EQ(search({.state = LibraryModelState::failed}), std::vector<std::string>{"local/broken-download"});
  EXPECT_EQ(search({.text = "instruct",
                    .task = ModelTask::generate,
                    .quantization = "Q4_K_M",
                    .state = LibraryModelState::ready}),
            std::vector<std::string>{"meta/llama-3-8b-instruct-q4_k_m"});
  EXPECT_EQ(search({.tag = "small"}), std::vector<std::string>{"qwen/qwen2.5-0.5b-instruct"});
}

TEST_F(Index, SortsByNameSizeAndRecency) {
  auto by_size = search({.sort = LibrarySort::size, .limit = 2});
  EXPECT_EQ(by_size, (std::vector<std::string>{"meta/llama-3-8b-instruct-q4_k_m", "baai/bge-reranker-base"}));
  auto recent = search({.sort = LibrarySort::recent, .limit = 2});
  EXPECT_EQ(recent, (std::vector<std::string>{"qwen/qwen2.5-0.5b-instruct", "baai/bge-small-en-v1.5"}));
  auto page2 = search({.sort = LibrarySort::name, .limit = 2, .offset = 2});
  EXPECT_EQ(page2, (std::vector<std::string>{"local/broken-download", "meta/llama-3-8b-instruct-q4_k_m"}));
}

TEST_F(Index, RenameKeepsFullTextInSync) {
  auto m = index_->get("baai/bge-small-en-v1.5");
  ASSERT_TRUE(m.ok() && m->has_value());
  auto changed = **m;
  changed.description = "multilingual vectors";
  ASSERT_TRUE(index_->upsert(changed).ok());
  EXPECT_TRUE(search({.text = "sentence"}).empty());
  EXPECT_EQ(search({.text = "multilingual"}), std::vector<std::string>{"baai/bge-small-en-v1.5"});
  ASSERT_TRUE(index_->remove("baai/bge-small-en-v1.5").ok());
  EXPECT_TRUE(search({.text = "multilingual"}).empty());
}

// Past a few thousand hits, search switches strategy (tiers, index walks): same answers.
TEST(IndexManyHits, LargeHitSetsGiveTheSameAnswersAsSmallOnes) {
  TempDir dir;
  auto index = ModelIndex::open(dir.path / "models.db", dir.path, 1000);
  ASSERT_TRUE(index.ok());
  library::Transaction tx(index->db());
  ASSERT_TRUE(tx.begin().ok());
  std::vector<LibraryModel> all;
  for (int i = 0; i < 6000; ++i) {
    // Every model mentions "common"; one in three in its name, the rest only in the description.
    bool in_name = i % 3 == 0;
    auto m = record("p" + std::to_string(i % 7), (in_name ? "common-" : "other-") + std::to_string(i),
                    "llama", i % 2 ? ModelTask::generate : ModelTask::embed, "Q4_K_M",
                    1000 + (i * 7919) % 100000, {}, in_name ? "" : "a common description");
    m.updated_at = 1000 + i;
    ASSERT_TRUE(index->upsert(m).ok());
    all.push_back(m);
  }
  ASSERT_TRUE(tx.commit().ok());

  auto relevance = index->search({.text = "common", .limit = 3000});
  ASSERT_TRUE(relevance.ok());
  ASSERT_EQ(relevance->size(), 3000u);
  for (size_t i = 0; i < 2000; ++i) EXPECT_TRUE(relevance->at(i).name.starts_with("common-")) << i;
  for (size_t i = 2000; i < 3000; ++i) EXPECT_TRUE(relevance->at(i).name.starts_with("other-")) << i;
  auto page = index->search({.text = "common", .limit = 10, .offset = 1995});
  ASSERT_EQ(page->size(), 10u);
  EXPECT_EQ(page->at(4).id, relevance->at(1999).id);
  EXPECT_EQ(page->at(5).id, relevance->at(2000).id);

  auto by_size =
      index->search({.text = "common", .task = ModelTask::embed, .sort = LibrarySort::size, .limit = 20});
  ASSERT_TRUE(by_size.ok());
  std::vector<LibraryModel> expected;
  for (auto& m : all)
    if (m.task == ModelTask::embed) expected.push_back(m);
  std::stable_sort(expected.begin(), expected.end(),
                   [](const auto& a, const auto& b) { return a.size_bytes > b.size_bytes; });
  ASSERT_EQ(by_size->size(), 20u);
  for (size_t i = 0; i < 20; ++i) EXPECT_EQ(by_size->at(i).size_bytes, expected[i].size_bytes) << i;
  auto by_name = index->search({.text = "common", .sort = LibrarySort::name, .limit = 3});
  EXPECT_EQ(ids(*by_name), (std::vector<std::string>{"p0/common-0", "p1/common-1002", "p4/common-1005"}));
}

}  // namespace
}  // namespace xervo::testing
