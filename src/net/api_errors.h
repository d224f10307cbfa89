// Turning failed HTTP exchanges with remote model APIs into xervo Errors, shared by the remote
// providers: status -> code, the API's own message when the body has one, and excerpts of hostile
// bodies with secrets removed. Pure functions; safe from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_client.h"
#include "xervo/error.h"

namespace xervo::net {

// Who was being talked to, for messages. Never holds the key itself except in `secrets`, whose
// values are removed from every message built here.
struct ApiContext {
  std::string service;   // "openai", "gemini"
  std::string base_url;  // printable (redact_url)
  std::string model;
  std::string api_key_env;  // the variable the key comes from: named in 401/403 messages
  bool key_sent = false;    // whether a key was sent at all
  std::vector<std::string> secrets;
};

// `text` with every secret, bearer token, "key=" query value and API-key-looking token replaced
// by "[redacted]".
std::string redact_secrets(std::string_view text, const std::vector<std::string>& secrets = {});
// The first `max_bytes` of a body, secrets removed, control characters blanked, cut on a UTF-8
// boundary, "..." appended when cut.
std::string body_excerpt(std::string_view body, const std::vector<std::string>& secrets = {},
                         size_t max_bytes = 200);
// The error text an API put in its body: {error: {message}}, {error: "..."}, {message}, {detail};
// empty when there is none.
std::string api_error_message(const nlohmann::json& body);

// The default code for an HTTP status: 400/413/422 invalid_input, 401 unauthorized, 403 forbidden,
// 404 model_not_found, 408/504 timeout, 429 rate_limited, 500 inference_failed, other 5xx
// unavailable, other 4xx invalid_input.
ErrorCode error_code_for_status(int status);

// The Error for a non-2xx response. `code` overrides the status mapping (an API's own error type).
Error error_from_response(const HttpResponse& response, const ApiContext& ctx,
                          std::optional<ErrorCode> code = std::nullopt);
// inference_failed for a 2xx body that is not JSON or not of the expected shape: says what was
// expected and shows a short excerpt.
Error malformed_response(const ApiContext& ctx, std::string_view expected, std::string_view body);

}  // namespace xervo::net
