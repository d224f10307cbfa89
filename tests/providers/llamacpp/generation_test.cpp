#include <nlohmann/json.hpp>

#include <atomic>
#include <thread>

#include "helpers.h"

namespace xervo::testing {
namespace {

class Generation : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    loaded_ = new LoadedModel(load_or_fail(ModelTask::generate, test_model("generator", "tiny"),
                                           {{"context_size", 256}, {"parallel", 4}}));
  }
  static void TearDownTestSuite() {
    delete loaded_;
    loaded_ = nullptr;
  }
  GeneratorModel& model() { return *loaded_->generator; }
  static GenerateRequest greedy(std::string prompt, int max_tokens = 24) {
    GenerateRequest r;
    r.prompt = std::move(prompt);
    r.options.temperature = 0;
    r.options.max_tokens = max_tokens;
    return r;
  }
  static LoadedModel* loaded_;
};
LoadedModel* Generation::loaded_ = nullptr;

TEST_F(Generation, GreedyRawCompletionIsDeterministicAndCountsTokens) {
  ASSERT_TRUE(loaded_->generator);
  auto a = model().generate(greedy("Once upon a time"));
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  auto b = model().generate(greedy("Once upon a time"));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->text, b->text);
  EXPECT_FALSE(a->text.empty());
  EXPECT_GT(a->usage.prompt_tokens, 1);
  EXPECT_GE(a->usage.completion_tokens, 1);
  EXPECT_LE(a->usage.completion_tokens, 24);
  if (a->finish_reason == FinishReason::length) {
    EXPECT_EQ(a->usage.completion_tokens, 24);
  }
}

TEST_F(Generation, MaxTokensEndsWithLength) {
  auto r = model().generate(greedy("The", 3));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  if (r->finish_reason == FinishReason::length) {
    EXPECT_EQ(r->usage.completion_tokens, 3);
  } else {
    EXPECT_LT(r->usage.completion_tokens, 3);  // the model ended on its own first
  }
}

TEST_F(Generation, StreamedPiecesMakeUpTheText) {
  std::string streamed;
  int calls = 0;
  auto r = model().generate(greedy("Streaming test:"), [&](std::string_view piece) {
    EXPECT_FALSE(piece.empty());
    streamed += piece;
    ++calls;
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(streamed, r->text);
  EXPECT_GT(calls, 1);
}

TEST_F(Generation, SampledGenerationWithSeedIsReproducible) {
  GenerateRequest req;
  req.prompt = "Random words:";
  req.options.temperature = 1.0f;
  req.options.top_k = 50;
  req.options.top_p = 0.9f;
  req.options.min_p = 0.01f;
  req.options.repeat_penalty = 1.1f;
  req.options.max_tokens = 16;
  req.options.seed = 1234;
  auto a = model().generate(req);
  auto b = model().generate(req);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->text, b->text);
  req.options.seed = 99;
  auto c = model().generate(req);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->text, c->text);
}

TEST_F(Generation, StopStringEndsGenerationAndIsNeverEmitted) {
  auto full = model().generate(greedy("Count with me", 32));
  ASSERT_TRUE(full.ok());
  ASSERT_GE(full->text.size(), 6u) << "the model's greedy text is too short to pick a stop string";
  // A stop string from the middle of the known greedy output.
  const size_t at = full->text.size() / 2;
  const std::string stop = full->text.substr(at, 3);
  auto req = greedy("Count with me", 32);
  req.options.stop = {stop};
  std::string streamed;
  auto r = model().generate(req, [&](std::string_view p) {
    streamed += p;
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->finish_reason, FinishReason::stop);
  EXPECT_EQ(r->stop_sequence, stop);
  const size_t first = full->text.find(stop);
  EXPECT_EQ(r->text, full->text.substr(0, first));
  EXPECT_EQ(streamed, r->text);
  EXPECT_EQ(streamed.find(stop), std::string::npos);
}

TEST_F(Generation, CallbackReturningFalseCancels) {
  int calls = 0;
  auto r = model().generate(greedy("Cancel me", 200), [&](std::string_view) { return ++calls < 2; });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->finish_reason, FinishReason::cancelled);
  EXPECT_EQ(calls, 2);
}

TEST_F(Generation, StopTokenCancelsARunningGeneration) {
  std::stop_source source;
  auto req = greedy("Cancel from outside", 200);
  req.cancel = source.get_token();
  int calls = 0;
  auto r = model().generate(req, [&](std::string_view) {
    if (++calls == 2) source.request_stop();
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->finish_reason, FinishReason::cancelled);
  EXPECT_LT(r->usage.completion_tokens, 200);
}

TEST_F(Generation, AlreadyCancelledRequestEndsAtOnce) {
  std::stop_source source;
  source.request_stop();
  auto req = greedy("never runs", 200);
  req.cancel = source.get_token();
  auto r = model().generate(req);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->finish_reason, FinishReason::cancelled);
  EXPECT_EQ(r->usage.completion_tokens, 0);
}

TEST_F(Generation, ChatMessagesGoThroughTheTemplate) {
  GenerateRequest req;
  req.messages = {{"system", "You are terse."}, {"user", "Say hi"}};
  req.options.temperature = 0;
  req.options.max_tokens = 8;
  auto chat = model().generate(req);
  ASSERT_TRUE(chat.ok()) << chat.error().to_string();
  // The rendered template adds tokens around the two messages.
  auto raw = model().generate(greedy("You are terse. Say hi", 8));
  ASSERT_TRUE(raw.ok());
  EXPECT_GT(chat->usage.prompt_tokens, raw->usage.prompt_tokens + 4);
  EXPECT_TRUE(loaded_->info["chat_template"].get<bool>());
  req.messages.push_back({"wizard", "?"});
  auto bad = model().generate(req);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::invalid_input);
}

TEST_F(Generation, CountsPromptTokensAsGenerationUsesThem) {
  GenerateRequest req;
  req.messages = {{"system", "You are terse."}, {"user", "Say hi"}};
  req.options.temperature = 0;
  req.options.max_tokens = 2;
  auto counted = model().count_prompt_tokens(req);
  ASSERT_TRUE(counted.ok()) << counted.error().to_string();
  auto run = model().generate(req);
  ASSERT_TRUE(run.ok()) << run.error().to_string();
  EXPECT_EQ(*counted, run->usage.prompt_tokens);
  auto raw = model().count_prompt_tokens(greedy("Once upon a time"));
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(*raw, model().generate(greedy("Once upon a time", 1))->usage.prompt_tokens);
  req.messages.push_back({"wizard", "?"});
  auto bad = model().count_prompt_tokens(req);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::invalid_input);
}

TEST_F(Generation, PromptLongerThanTheContextIsContextOverflow) {
  std::string prompt;
  for (int i = 0; i < 400; ++i) prompt += "word ";
  auto r = model().generate(greedy(prompt));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::context_overflow);
  EXPECT_NE(r.error().message().find("256"), std::string::npos) << r.error().message();
}

TEST_F(Generation, GenerationStopsAtTheEndOfTheContext) {
  std::string prompt;
  for (int i = 0; i < 120; ++i) prompt += "word ";
  auto r = model().generate(greedy(prompt, 1000));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_LE(r->usage.prompt_tokens + r->usage.completion_tokens, 256);
  if (r->finish_reason == FinishReason::length) {
    EXPECT_EQ(r->usage.prompt_tokens + r->usage.completion_tokens, 256);
  }
}

TEST_F(Generation, OutOfRangeOptionsAreInvalidInput) {
  auto req = greedy("x");
  req.options.max_tokens = 0;
  EXPECT_EQ(model().generate(req).error().code(), ErrorCode::invalid_input);
  req = greedy("x");
  req.options.temperature = -1;
  EXPECT_EQ(model().generate(req).error().code(), ErrorCode::invalid_input);
  req = greedy("x");
  req.options.top_p = 0;
  EXPECT_EQ(model().generate(req).error().code(), ErrorCode::invalid_input);
}

TEST_F(Generation, JsonSchemaOutputParsesAndHasTheRequiredKeys) {
  const nlohmann::json schema = {{"type", "object"},
                                 {"properties",
                                  {{"ok", {{"type", "boolean"}}},
                                   {"level", {{"type", "string"}, {"enum", {"low", "mid", "high"}}}},
                                   {"count", {{"type", "integer"}, {"minimum", 0}, {"maximum", 99}}}}},
                                 {"required", {"ok", "level", "count"}},
                                 {"additionalProperties", false}};
  auto req = greedy("Answer in JSON:", 120);
  req.options.json_schema = schema.dump();
  auto r = model().generate(req);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->finish_reason, FinishReason::stop) << r->text;
  const auto parsed = nlohmann::json::parse(r->text, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << r->text;
  ASSERT_TRUE(parsed.is_object()) << r->text;
  for (const char* key : {"ok", "level", "count"}) EXPECT_TRUE(parsed.contains(key)) << r->text;
  EXPECT_TRUE(parsed["ok"].is_boolean());
  EXPECT_TRUE(parsed["count"].is_number_integer());
}

TEST_F(Generation, BadJsonSchemaIsInvalidInput) {
  auto req = greedy("x");
  req.options.json_schema = "{not json";
  auto r = model().generate(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::invalid_input);
}

TEST_F(Generation, WarmupRuns) {
  ASSERT_TRUE(loaded_->warmup);
  auto w = loaded_->warmup();
  EXPECT_TRUE(w.ok()) << w.error().to_string();
  EXPECT_EQ(loaded_->info["architecture"], "llama");
  EXPECT_EQ(loaded_->info["n_ctx"], 256);
  EXPECT_GT(loaded_->memory_bytes, 0u);
}

}  // namespace
}  // namespace xervo::testing
