// The OpenAI-compatible routes against the test provider: shapes, options and every 4xx path.
#include <openssl/evp.h>

#include <cstring>

#include "server_fixture.h"

namespace xervo::testing {
namespace {

using nlohmann::json;

std::vector<float> decode_base64_floats(const std::string& text) {
  std::string bytes(text.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  size_t pad = text.size() >= 2 ? (text[text.size() - 1] == '=') + (text[text.size() - 2] == '=') : 0;
  bytes.resize(static_cast<size_t>(n) - pad);
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

TEST_F(ServerTest, ModelsListsEveryAlias) {
  start();
  auto r = get("/v1/models");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  std::set<std::string> ids;
  for (const auto& m : j["data"]) ids.insert(m["id"].get<std::string>());
  EXPECT_TRUE(ids.count("embed/test"));
  EXPECT_TRUE(ids.count("chat/test"));
  EXPECT_FALSE(r->get_header_value("X-Request-Id").empty());
}

TEST_F(ServerTest, EmbeddingsFloatAndBase64CarryTheSameVectors) {
  start();
  auto f = post("/v1/embeddings", {{"model", "embed/test"}, {"input", {"abc", "hello"}}});
  ASSERT_TRUE(f);
  ASSERT_EQ(f->status, 200) << f->body;
  auto fj = json::parse(f->body);
  ASSERT_EQ(fj["data"].size(), 2u);
  EXPECT_EQ(fj["data"][1]["index"], 1);
  EXPECT_EQ(fj["data"][1]["embedding"][0].get<float>(), 5.0f);
  EXPECT_EQ(fj["usage"]["prompt_tokens"], 8);
  EXPECT_EQ(fj["model"], "embed/test");

  auto b = post("/v1/embeddings",
                {{"model", "embed/test"}, {"input", {"abc", "hello"}}, {"encoding_format", "base64"}});
  ASSERT_TRUE(b);
  ASSERT_EQ(b->status, 200) << b->body;
  auto bj = json::parse(b->body);
  for (int i = 0; i < 2; ++i) {
    auto decoded = decode_base64_floats(bj["data"][i]["embedding"].get<std::string>());
    EXPECT_EQ(decoded, fj["data"][i]["embedding"].get<std::vector<float>>());
  }
}

TEST_F(ServerTest, EmbeddingsTakeAStringAndDimensions) {
  start();
  auto r = post("/v1/embeddings", {{"model", "embed/test"}, {"input", "one"}, {"dimensions", 8}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["data"][0]["embedding"].size(), 8u);
}

TEST_F(ServerTest, UnknownAliasIs404InOpenAIErrorShape) {
  start();
  auto r = post("/v1/embeddings", {{"model", "embed/nope"}, {"input", "x"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  auto j = json::parse(r->body);
  EXPECT_EQ(j["error"]["code"], "alias_not_found");
  EXPECT_EQ(j["error"]["type"], "not_found_error");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("embed/nope"), std::string::npos);
}

TEST_F(ServerTest, WrongTaskForTheAliasIs400) {
  start();
  auto r = post("/v1/embeddings", {{"model", "chat/test"}, {"input", "x"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_code(r), "capability_mismatch");
  auto c = post("/v1/chat/completions",
                {{"model", "embed/test"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, 400);
  EXPECT_EQ(error_code(c), "capability_mismatch");
}

TEST_F(ServerTest, MalformedJsonAndWrongTypesAre400NamingTheField) {
  start();
  auto bad = post_raw("/v1/embeddings", "{\"model\": ");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(error_code(bad), "invalid_input");

  struct Case {
    std::string path;
    json body;
    std::string field;
  };
  std::vector<Case> cases = {
      {"/v1/embeddings", {{"model", 5}, {"input", "x"}}, "model"},
      {"/v1/embeddings", {{"model", "embed/test"}, {"input", 5}}, "input"},
      {"/v1/embeddings", {{"model", "embed/test"}, {"input", json::array()}}, "input"},
      {"/v1/embeddings", {{"model", "embed/test"}, {"input", {1, 2}}}, "input[0]"},
      {"/v1/embeddings",
       {{"model", "embed/test"}, {"input", "x"}, {"encoding_format", "hex"}},
       "encoding_format"},
      {"/v1/embeddings", {{"model", "embed/test"}, {"input", ""}}, "input[0]"},
      {"/v1/chat/completions", {{"model", "chat/test"}}, "messages"},
      {"/v1/chat/completions",
       {{"model", "chat/test"}, {"messages", {{{"role", "robot"}, {"content", "x"}}}}},
       "role"},
      {"/v1/chat/completions",
       {{"model", "chat/test"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", "ten"}},
       "max_tokens"},
      {"/v1/chat/completions",
       {{"model", "chat/test"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}, {"temperature", 7}},
       "temperature"},
      {"/v1/chat/completions",
       {{"model", "chat/test"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}, {"stop", {1}}},
       "stop"},
      {"/v1/chat/completions",
       {{"model", "chat/test"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}, {"n", 17}},
       "n"},
      {"/v1/completions", {{"model", "chat/test"}, {"prompt", {1, 2, 3}}}, "prompt"},
      {"/v1/rerank",
       {{"model", "rerank/test"}, {"query", "q"}, {"documents", {{{"txt", "a"}}}}},
       "documents[0]"},
      {"/v1/rerank", {{"model", "rerank/test"}, {"documents", {"a"}}}, "query"},
  };
  for (const auto& c : cases) {
    auto r = post(c.path, c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << c.body.dump() << " -> " << r->body;
    EXPECT_NE(error_message(r).find(c.field), std::string::npos) << c.body.dump() << " -> " << r->body;
  }
  auto not_object = post_raw("/v1/chat/completions", "[1,2]");
  ASSERT_TRUE(not_object);
  EXPECT_EQ(not_object->status, 400);
}

TEST_F(ServerTest, ChatCompletionWholeResponse) {
  start();
  auto r =
      post("/v1/chat/completions", {{"model", "chat/test"},
                                    {"messages",
                                     {{{"role", "system"}, {"content", "be brief"}},
                                      {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "hi"}}}}}}},
                                    {"max_tokens", 3},
                                    {"seed", 7},
                                    {"temperature", 0}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "tok0 tok1 tok2 ");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 3);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(j["usage"]["total_tokens"], 13);
}

TEST_F(ServerTest, JsonSchemaReachesTheGenerator) {
  start();
  json schema = {{"type", "object"}, {"properties", {{"ok", {{"type", "boolean"}}}}}, {"required", {"ok"}}};
  auto r = post(
      "/v1/chat/completions",
      {{"model", "chat/test"},
       {"messages", {{{"role", "user"}, {"content", "x"}}}},
       {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "t"}, {"schema", schema}}}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(probe->last_schema), schema);
  auto content = json::parse(r->body)["choices"][0]["message"]["content"].get<std::string>();
  EXPECT_EQ(json::parse(content)["ok"], true);

  auto o = post("/v1/chat/completions", {{"model", "chat/test"},
                                         {"messages", {{{"role", "user"}, {"content", "x"}}}},
                                         {"response_format", {{"type", "json_object"}}}});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->status, 200);
  EXPECT_EQ(json::parse(probe->last_schema)["type"], "object");
}

TEST_F(ServerTest, TextCompletion) {
  start();
  auto r = post("/v1/completions", {{"model", "chat/test"}, {"prompt", "Once"}, {"max_tokens", 2}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "tok0 tok1 ");
}

TEST_F(ServerTest, EngineFailureIs500WithItsCode) {
  start();
  auto r = post("/v1/chat/completions",
                {{"model", "chat/fail"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(error_code(r), "inference_failed");
}

TEST_F(ServerTest, RerankSortsAndReturnsDocuments) {
  start();
  auto r = post("/v1/rerank", {{"model", "rerank/test"},
                               {"query", "abc"},
                               {"documents", {"zzz", {{"text", "abc"}}, "ab"}},
                               {"top_n", 2}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][0]["index"], 1);
  EXPECT_EQ(j["results"][0]["relevance_score"], 3.0);
  EXPECT_EQ(j["results"][0]["document"]["text"], "abc");
  EXPECT_EQ(j["results"][1]["index"], 2);
  auto bare =
      post("/v1/rerank",
           {{"model", "rerank/test"}, {"query", "a"}, {"documents", {"a"}}, {"return_documents", false}});
  ASSERT_TRUE(bare);
  EXPECT_FALSE(json::parse(bare->body)["results"][0].contains("document"));
}

TEST_F(ServerTest, UnknownRouteIs404InOpenAIErrorShape) {
  start();
  auto r = get("/v2/nothing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_code(r), "route_not_found");
}

}  // namespace
}  // namespace xervo::testing
