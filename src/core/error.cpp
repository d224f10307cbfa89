#include "xervo/error.h"

#include <array>

namespace xervo {
namespace {

struct CodeInfo {
  ErrorCode code;
  std::string_view name;
  int http_status;
  bool retryable;
};

// The one table from codes to names, HTTP statuses and retry semantics.
constexpr std::array<CodeInfo, 19> kCodes{{
    {ErrorCode::invalid_input, "invalid_input", 400, false},
    {ErrorCode::config_invalid, "config_invalid", 400, false},
    {ErrorCode::alias_not_found, "alias_not_found", 404, false},
    {ErrorCode::provider_not_found, "provider_not_found", 404, false},
    {ErrorCode::model_not_found, "model_not_found", 404, false},
    {ErrorCode::capability_mismatch, "capability_mismatch", 400, false},
    {ErrorCode::context_overflow, "context_overflow", 400, false},
    {ErrorCode::model_load_failed, "model_load_failed", 500, false},
    {ErrorCode::inference_failed, "inference_failed", 500, true},
    {ErrorCode::not_ready, "not_ready", 409, false},
    {ErrorCode::timeout, "timeout", 504, true},
    {ErrorCode::rate_limited, "rate_limited", 429, true},
    {ErrorCode::unavailable, "unavailable", 503, true},
    {ErrorCode::insufficient_memory, "insufficient_memory", 503, true},
    {ErrorCode::unauthorized, "unauthorized", 401, false},
    {ErrorCode::forbidden, "forbidden", 403, false},
    {ErrorCode::cancelled, "cancelled", 499, false},
    {ErrorCode::io_error, "io_error", 500, false},
    {ErrorCode::internal, "internal", 500, false},
}};

const CodeInfo& info(ErrorCode code) {
  for (const auto& c : kCodes)
    if (c.code == code) return c;
  return kCodes.back();
}

}  // namespace

std::string_view to_string(ErrorCode code) { return info(code).name; }

std::optional<ErrorCode> parse_error_code(std::string_view name) {
  for (const auto& c : kCodes)
    if (c.name == name) return c.code;
  return std::nullopt;
}

int http_status(ErrorCode code) { return info(code).http_status; }

bool is_retryable(ErrorCode code) { return info(code).retryable; }

std::string Error::to_string() const {
  std::string out(xervo::to_string(code_));
  out += ": ";
  out += message_;
  return out;
}

}  // namespace xervo
