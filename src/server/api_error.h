// How the server answers: JSON bodies and errors in OpenAI's shape
// {"error": {"message", "type", "code"}} with the HTTP status of xervo::http_status(code).
// Stateless functions; safe from any thread.
#pragma once

#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "server/http_message.h"
#include "xervo/error.h"

namespace xervo::server {

// OpenAI's error "type" for a code: invalid_request_error, authentication_error, ...
std::string_view openai_error_type(ErrorCode code);

nlohmann::json error_body(const Error& error);

void send_json(HttpResponse& res, int status, const nlohmann::json& body);
// Retry-After of an insufficient_memory answer that names no time of its own.
inline constexpr int kMemoryRetryAfterS = 5;

// Sets status, body and, for rate_limited/unavailable, Retry-After (seconds, at least 1); for
// insufficient_memory, Retry-After kMemoryRetryAfterS unless retry_after_s says otherwise.
void send_error(HttpResponse& res, const Error& error, int retry_after_s = 0);

// Thrown inside route handlers (the server's outer edge) to answer with an error; the route wrapper
// (routes.h) turns it into the response. retry_after_s matters for rate_limited and unavailable.
class Rejection : public std::exception {
 public:
  explicit Rejection(Error error, int retry_after_s = 0)
      : error_(std::move(error)), retry_after_s_(retry_after_s) {}
  const Error& error() const { return error_; }
  int retry_after_s() const { return retry_after_s_; }
  const char* what() const noexcept override { return error_.message().c_str(); }

 private:
  Error error_;
  int retry_after_s_;
};

// Shorthand for the common case: a 400 saying what is wrong with the request.
[[noreturn]] void reject_input(std::string message);

}  // namespace xervo::server
