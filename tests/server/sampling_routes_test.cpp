// logprobs, top_logprobs, n, penalties, logit_bias and 64-bit seeds on /v1/chat/completions and
// /v1/completions, whole and streamed, in OpenAI's shapes; and the 400s for what is out of range.
#include "server_fixture.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

std::vector<json> sse_chunks(const std::string& body) {
  std::vector<json> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    const std::string data = body.substr(pos + 6, end - pos - 6);
    if (data != "[DONE]") out.push_back(json::parse(data));
    pos = end;
  }
  return out;
}

json chat(json extra) {
  json body = {
      {"model", "chat/test"}, {"max_tokens", 3}, {"messages", {{{"role", "user"}, {"content", "hello"}}}}};
  body.update(extra);
  return body;
}

json completion(json extra) {
  json body = {{"model", "chat/test"}, {"max_tokens", 3}, {"prompt", "Once"}};
  body.update(extra);
  return body;
}

TEST_F(ServerTest, ChatLogprobsComeInOpenAIsShape) {
  start();
  auto r = post("/v1/chat/completions", chat({{"logprobs", true}, {"top_logprobs", 2}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto lp = json::parse(r->body)["choices"][0]["logprobs"];
  ASSERT_EQ(lp["content"].size(), 3u) << lp.dump();
  EXPECT_TRUE(lp["refusal"].is_null());
  const auto& first = lp["content"][0];
  EXPECT_EQ(first["token"], "tok0 ");
  EXPECT_DOUBLE_EQ(first["logprob"].get<double>(), -0.25);
  EXPECT_EQ(first["bytes"], json({116, 111, 107, 48, 32}));
  ASSERT_EQ(first["top_logprobs"].size(), 2u);
  EXPECT_EQ(first["top_logprobs"][0]["token"], "tok0 ");
  EXPECT_EQ(first["top_logprobs"][1]["token"], "alt1");
  EXPECT_DOUBLE_EQ(first["top_logprobs"][1]["logprob"].get<double>(), -1.25);
  EXPECT_TRUE(first["top_logprobs"][1].contains("bytes"));
  EXPECT_EQ(lp["content"][2]["token"], "tok2 ");

  auto plain = post("/v1/chat/completions", chat(json::object()));
  ASSERT_TRUE(plain);
  EXPECT_TRUE(json::parse(plain->body)["choices"][0]["logprobs"].is_null());
}

TEST_F(ServerTest, CompletionLogprobsComeInTheLegacyShape) {
  start();
  auto r = post("/v1/completions", completion({{"logprobs", 2}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto lp = json::parse(r->body)["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], json({"tok0 ", "tok1 ", "tok2 "}));
  EXPECT_EQ(lp["token_logprobs"], json({-0.25, -0.5, -0.75}));
  EXPECT_EQ(lp["text_offset"], json({0, 5, 10}));
  ASSERT_EQ(lp["top_logprobs"].size(), 3u);
  EXPECT_EQ(lp["top_logprobs"][1], json({{"tok1 ", -0.5}, {"alt1", -1.5}}));
  auto zero = post("/v1/completions", completion({{"logprobs", 0}}));
  ASSERT_TRUE(zero);
  ASSERT_EQ(zero->status, 200) << zero->body;
  const auto lp0 = json::parse(zero->body)["choices"][0]["logprobs"];
  EXPECT_EQ(lp0["tokens"].size(), 3u);
  EXPECT_TRUE(lp0["top_logprobs"].is_null());
}

TEST_F(ServerTest, NChoicesAreIndexedAndUsageCountsThePromptOnce) {
  start();
  auto r = post("/v1/chat/completions", chat({{"n", 3}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto j = json::parse(r->body);
  ASSERT_EQ(j["choices"].size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(j["choices"][i]["index"], i);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "tok0 tok1 tok2 ");
  EXPECT_EQ(j["choices"][2]["message"]["content"], "c2tok0 c2tok1 c2tok2 ");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);  // "hello", once
  EXPECT_EQ(j["usage"]["completion_tokens"], 9);
  EXPECT_EQ(j["usage"]["total_tokens"], 14);
  auto c = post("/v1/completions", completion({{"n", 2}}));
  ASSERT_TRUE(c);
  ASSERT_EQ(c->status, 200) << c->body;
  EXPECT_EQ(json::parse(c->body)["choices"][1]["text"], "c1tok0 c1tok1 c1tok2 ");
}

TEST_F(ServerTest, StreamedChatChunksCarryTheirIndexAndLogprobs) {
  start();
  auto r = post("/v1/chat/completions", chat({{"n", 2}, {"logprobs", true}, {"stream", true}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  std::vector<std::string> text(2), covered(2), finish(2), role(2);
  for (const auto& chunk : sse_chunks(r->body)) {
    for (const auto& c : chunk["choices"]) {
      const auto i = c["index"].get<size_t>();
      ASSERT_LT(i, 2u);
      if (c["delta"].contains("role")) role[i] = c["delta"]["role"];
      if (c["delta"].contains("content")) text[i] += c["delta"]["content"].get<std::string>();
      if (!c["logprobs"].is_null())
        for (const auto& t : c["logprobs"]["content"]) covered[i] += t["token"].get<std::string>();
      if (!c["finish_reason"].is_null()) finish[i] = c["finish_reason"];
    }
  }
  EXPECT_EQ(text[0], "tok0 tok1 tok2 ");
  EXPECT_EQ(text[1], "c1tok0 c1tok1 c1tok2 ");
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(role[i], "assistant");
    EXPECT_EQ(covered[i], text[i]);
    EXPECT_EQ(finish[i], "length");
  }
}

TEST_F(ServerTest, StreamedCompletionLogprobsContinueTheirTextOffsets) {
  start();
  auto r = post("/v1/completions", completion({{"logprobs", 1}, {"stream", true}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  std::vector<size_t> offsets;
  std::string text;
  for (const auto& chunk : sse_chunks(r->body))
    for (const auto& c : chunk["choices"]) {
      text += c["text"].get<std::string>();
      if (!c["logprobs"].is_null())
        for (const auto& o : c["logprobs"]["text_offset"]) offsets.push_back(o.get<size_t>());
    }
  EXPECT_EQ(text, "tok0 tok1 tok2 ");
  EXPECT_EQ(offsets, (std::vector<size_t>{0, 5, 10}));
}

TEST_F(ServerTest, PenaltiesLogitBiasAndSixtyFourBitSeedsReachTheGenerator) {
  start();
  auto r = post("/v1/chat/completions", chat({{"presence_penalty", 1.5},
                                              {"frequency_penalty", -0.5},
                                              {"logit_bias", {{"50256", -100}, {"7", 2.5}}},
                                              {"min_p", 0.1},
                                              {"repeat_penalty", 1.2},
                                              {"seed", 18446744073709551615ull}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  GenerateOptions o;
  {
    std::lock_guard lk(probe->mu);
    o = probe->last_options;
  }
  EXPECT_FLOAT_EQ(o.presence_penalty, 1.5f);
  EXPECT_FLOAT_EQ(o.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(o.min_p, 0.1f);
  EXPECT_FLOAT_EQ(o.repeat_penalty, 1.2f);
  ASSERT_TRUE(o.seed.has_value());
  EXPECT_EQ(*o.seed, ~uint64_t{0});
  std::sort(o.logit_bias.begin(), o.logit_bias.end());
  EXPECT_EQ(o.logit_bias, (std::vector<std::pair<int32_t, float>>{{7, 2.5f}, {50256, -100.0f}}));
  // A seed with its high bits set stays whole; a negative one means the same 64 bits.
  ASSERT_TRUE(post("/v1/chat/completions", chat({{"seed", (uint64_t{1} << 63) | 7}})));
  {
    std::lock_guard lk(probe->mu);
    EXPECT_EQ(probe->last_options.seed, (uint64_t{1} << 63) | 7);
  }
  ASSERT_TRUE(post("/v1/chat/completions", chat({{"seed", -2}})));
  std::lock_guard lk(probe->mu);
  EXPECT_EQ(probe->last_options.seed, ~uint64_t{0} - 1);
}

TEST_F(ServerTest, OutOfRangeSamplingFieldsAre400NamingTheField) {
  start();
  struct Case {
    bool chat;
    json extra;
    std::string field;
  };
  const std::vector<Case> cases = {
      {true, {{"top_logprobs", 2}}, "top_logprobs"},  // without logprobs
      {true, {{"logprobs", true}, {"top_logprobs", 21}}, "top_logprobs"},
      {true, {{"logprobs", 1}}, "logprobs"},
      {false, {{"logprobs", true}}, "logprobs"},
      {false, {{"logprobs", 21}}, "logprobs"},
      {true, {{"n", 0}}, "n"},
      {true, {{"n", 17}}, "n"},
      {true, {{"n", 1.5}}, "n"},
      {true, {{"presence_penalty", 2.5}}, "presence_penalty"},
      {true, {{"frequency_penalty", "x"}}, "frequency_penalty"},
      {true, {{"logit_bias", {1, 2}}}, "logit_bias"},
      {true, {{"logit_bias", {{"abc", 1}}}}, "logit_bias"},
      {true, {{"logit_bias", {{"-5", 1}}}}, "logit_bias"},
      {true, {{"logit_bias", {{"5", 101}}}}, "logit_bias"},
      {true, {{"logit_bias", {{"5", "high"}}}}, "logit_bias"},
      {true, {{"seed", 1.5}}, "seed"},
      {true, {{"seed", "7"}}, "seed"},
      {true, {{"seed", 1e30}}, "seed"},
  };
  for (const auto& c : cases) {
    const json body = c.chat ? chat(c.extra) : completion(c.extra);
    auto r = post(c.chat ? "/v1/chat/completions" : "/v1/completions", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body.dump() << " -> " << r->body;
    EXPECT_NE(error_message(r).find(c.field), std::string::npos) << body.dump() << " -> " << r->body;
  }
  json many = json::object();
  for (int i = 0; i < 1025; ++i) many[std::to_string(i)] = 1;
  auto r = post("/v1/chat/completions", chat({{"logit_bias", many}}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  // Beyond 64 bits: the JSON number is no integer any parser keeps exactly.
  auto huge = post_raw(
      "/v1/chat/completions",
      R"({"model": "chat/test", "messages": [{"role": "user", "content": "x"}], "seed": 18446744073709551616})");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 400) << huge->body;
  EXPECT_NE(error_message(huge).find("seed"), std::string::npos) << huge->body;
}

}  // namespace
}  // namespace xervo::testing
