#include "net/api_errors.h"

#include <gtest/gtest.h>

namespace xervo::net {
namespace {

ApiContext context() {
  ApiContext c;
  c.service = "openai";
  c.base_url = "http://127.0.0.1:9/v1";
  c.model = "m1";
  c.api_key_env = "MY_KEY_VAR";
  c.key_sent = true;
  c.secrets = {"super-secret-value-123"};
  return c;
}

TEST(ApiErrors, StatusesMapToCodes) {
  EXPECT_EQ(error_code_for_status(400), ErrorCode::invalid_input);
  EXPECT_EQ(error_code_for_status(401), ErrorCode::unauthorized);
  EXPECT_EQ(error_code_for_status(403), ErrorCode::forbidden);
  EXPECT_EQ(error_code_for_status(404), ErrorCode::model_not_found);
  EXPECT_EQ(error_code_for_status(422), ErrorCode::invalid_input);
  EXPECT_EQ(error_code_for_status(429), ErrorCode::rate_limited);
  EXPECT_EQ(error_code_for_status(500), ErrorCode::inference_failed);
  EXPECT_EQ(error_code_for_status(502), ErrorCode::unavailable);
  EXPECT_EQ(error_code_for_status(503), ErrorCode::unavailable);
  EXPECT_EQ(error_code_for_status(504), ErrorCode::timeout);
}

TEST(ApiErrors, UnauthorizedNamesTheVariableNeverTheKey) {
  HttpResponse r;
  r.status = 401;
  r.body = R"({"error":{"message":"Incorrect API key provided: super-secret-value-123"}})";
  Error e = error_from_response(r, context());
  EXPECT_EQ(e.code(), ErrorCode::unauthorized);
  EXPECT_NE(e.message().find("$MY_KEY_VAR"), std::string::npos) << e.message();
  EXPECT_EQ(e.message().find("super-secret-value-123"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("Incorrect API key"), std::string::npos);
}

TEST(ApiErrors, MissingKeySaysToSetTheVariable) {
  HttpResponse r;
  r.status = 401;
  auto ctx = context();
  ctx.key_sent = false;
  Error e = error_from_response(r, ctx);
  EXPECT_NE(e.message().find("no API key was sent: set $MY_KEY_VAR"), std::string::npos) << e.message();
}

TEST(ApiErrors, RedactsKeyShapedTokensAndBearerValues) {
  const std::string text =
      "Authorization: Bearer abc.def-123 and sk-proj-ABCDEFGHIJKLMNOPQRSTUV and "
      "AIzaSyA1234567890abcdefghijklmnopqrstu url?key=XYZ123&x=1 hf_abcdefghijklmnopqrstuvwx";
  const std::string out = redact_secrets(text);
  for (const char* leaked : {"abc.def-123", "sk-proj-ABC", "AIzaSyA123", "XYZ123", "hf_abcdefgh"})
    EXPECT_EQ(out.find(leaked), std::string::npos) << leaked << " in " << out;
  EXPECT_NE(out.find("&x=1"), std::string::npos);
}

TEST(ApiErrors, ExcerptIsShortCleanAndMarkedWhenCut) {
  std::string body = "line1\nline2\x01" + std::string(500, 'a');
  const std::string ex = body_excerpt(body);
  EXPECT_LE(ex.size(), 203u);
  EXPECT_TRUE(ex.ends_with("..."));
  EXPECT_EQ(ex.find('\n'), std::string::npos);
  // A multi-byte character at the cut is not split.
  std::string utf8(199, 'a');
  utf8 += "\xC3\xA9\xC3\xA9";
  const std::string cut = body_excerpt(utf8);
  EXPECT_EQ(cut, std::string(199, 'a') + "...");
}

TEST(ApiErrors, MalformedBodyIsInferenceFailedWithExcerpt) {
  Error e = malformed_response(context(), "an embeddings list", "<html>oops super-secret-value-123</html>");
  EXPECT_EQ(e.code(), ErrorCode::inference_failed);
  EXPECT_NE(e.message().find("<html>oops"), std::string::npos);
  EXPECT_EQ(e.message().find("super-secret"), std::string::npos);
}

TEST(ApiErrors, ReadsTheApiMessageFromCommonShapes) {
  EXPECT_EQ(api_error_message(nlohmann::json::parse(R"({"error":{"message":"a"}})")), "a");
  EXPECT_EQ(api_error_message(nlohmann::json::parse(R"({"error":"b"})")), "b");
  EXPECT_EQ(api_error_message(nlohmann::json::parse(R"({"detail":"c"})")), "c");
  EXPECT_EQ(api_error_message(nlohmann::json::parse(R"([1,2])")), "");
}

}  // namespace
}  // namespace xervo::net
