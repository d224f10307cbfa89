#include "server/api_error.h"

#include <algorithm>

namespace xervo::server {

std::string_view openai_error_type(ErrorCode code) {
  switch (code) {
    case ErrorCode::unauthorized:
      return "authentication_error";
    case ErrorCode::forbidden:
      return "permission_error";
    case ErrorCode::rate_limited:
      return "rate_limit_error";
    case ErrorCode::alias_not_found:
    case ErrorCode::model_not_found:
    case ErrorCode::provider_not_found:
      return "not_found_error";
    case ErrorCode::invalid_input:
    case ErrorCode::config_invalid:
    case ErrorCode::capability_mismatch:
    case ErrorCode::context_overflow:
    case ErrorCode::not_ready:
      return "invalid_request_error";
    case ErrorCode::unavailable:
    case ErrorCode::insufficient_memory:
      return "service_unavailable_error";
    case ErrorCode::timeout:
      return "timeout_error";
    case ErrorCode::cancelled:
      return "cancelled_error";
    case ErrorCode::model_load_failed:
    case ErrorCode::inference_failed:
    case ErrorCode::io_error:
    case ErrorCode::internal:
      return "server_error";
  }
  return "server_error";
}

nlohmann::json error_body(const Error& error) {
  return {{"error",
           {{"message", error.message()},
            {"type", std::string(openai_error_type(error.code()))},
            {"code", std::string(to_string(error.code()))},
            {"param", nullptr}}}};
}

void send_json(HttpResponse& res, int status, const nlohmann::json& body) {
  res.status = status;
  // Replacement of invalid UTF-8 keeps a hostile model output from turning into a 500.
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

void send_error(HttpResponse& res, const Error& error, int retry_after_s) {
  if (error.code() == ErrorCode::rate_limited || error.code() == ErrorCode::unavailable)
    res.set_header("Retry-After", std::to_string(std::max(1, retry_after_s)));
  // Memory frees as idle models expire or calls finish: a few seconds, not at once.
  if (error.code() == ErrorCode::insufficient_memory)
    res.set_header("Retry-After", std::to_string(retry_after_s > 0 ? retry_after_s : kMemoryRetryAfterS));
  send_json(res, http_status(error.code()), error_body(error));
}

void reject_input(std::string message) {
  throw Rejection(Error(ErrorCode::invalid_input, std::move(message)));
}

}  // namespace xervo::server
