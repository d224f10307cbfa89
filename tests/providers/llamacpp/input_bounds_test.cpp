// Inputs are bounded before the tokenizer or the chat template sees them: text that cannot fit the
// context (more than kMaxBytesPerToken bytes per token of it) is context_overflow at once, or cut
// there when truncating; a rerank template's placeholders cannot multiply a query without bound.
#include "helpers.h"
#include "providers/llamacpp/text.h"

namespace xervo::testing {
namespace {

std::string text_of(size_t bytes) {
  std::string s;
  while (s.size() < bytes) s += "word ";
  return s;
}

TEST(InputBounds, APromptBeyondWhatTheContextCanHoldIsRefusedByItsSize) {
  auto loaded = load_or_fail(ModelTask::generate, test_model("generator"), {{"context_size", 256}});
  ASSERT_TRUE(loaded.generator);
  GenerateRequest req;
  req.prompt = text_of(256 * llamacpp::kMaxBytesPerToken + 1);
  auto r = loaded.generator->generate(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::context_overflow);
  EXPECT_NE(r.error().message().find("bytes"), std::string::npos) << r.error().message();
  req.prompt.clear();
  req.messages = {{"system", text_of(20000)}, {"user", text_of(20000)}};
  r = loaded.generator->generate(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::context_overflow);
  EXPECT_NE(r.error().message().find("conversation"), std::string::npos) << r.error().message();
}

TEST(InputBounds, AnEmbeddingInputBeyondTheContextIsRefusedOrCutByItsSize) {
  auto loaded = load_or_fail(ModelTask::embed, test_model("embedder"));
  ASSERT_TRUE(loaded.embedding);
  const int n_ctx = loaded.info["n_ctx"].get<int>();
  const std::vector<std::string> inputs = {"short", text_of(n_ctx * llamacpp::kMaxBytesPerToken + 100)};
  auto r = loaded.embedding->embed(inputs);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::context_overflow);
  EXPECT_NE(r.error().message().find("input 1 is"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("bytes"), std::string::npos) << r.error().message();
  EmbedOptions cut;
  cut.truncate = true;
  auto t = loaded.embedding->embed(inputs, cut);
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  EXPECT_EQ(t->usage.prompt_tokens, static_cast<int64_t>(n_ctx) + 3);  // "short" is [CLS] short [SEP]
}

TEST(InputBounds, AnOverlongRerankDocumentIsRefusedOrCut) {
  const std::string doc = text_of(600 * llamacpp::kMaxBytesPerToken);
  const std::vector<std::string> docs = {"a short document", doc};
  auto strict = load_or_fail(ModelTask::rerank, test_model("reranker"));
  ASSERT_TRUE(strict.reranker);
  auto r = strict.reranker->rerank("query", docs);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::context_overflow);
  auto lenient = load_or_fail(ModelTask::rerank, test_model("reranker"), {{"truncate", true}});
  ASSERT_TRUE(lenient.reranker);
  auto t = lenient.reranker->rerank("query", docs);
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  EXPECT_EQ(t->results.size(), 2u);
}

TEST(InputBounds, Utf8PrefixNeverCutsACharacter) {
  const std::string s = "a\xC3\xA9\xE2\x82\xAC";  // a, é (2 bytes), € (3 bytes)
  EXPECT_EQ(llamacpp::utf8_prefix(s, 10), s);
  EXPECT_EQ(llamacpp::utf8_prefix(s, 2), "a");
  EXPECT_EQ(llamacpp::utf8_prefix(s, 3), "a\xC3\xA9");
  EXPECT_EQ(llamacpp::utf8_prefix(s, 5), "a\xC3\xA9");
  EXPECT_EQ(llamacpp::utf8_prefix(s, 0), "");
}

}  // namespace
}  // namespace xervo::testing
