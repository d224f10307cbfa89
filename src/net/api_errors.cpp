#include "net/api_errors.h"

#include <algorithm>
#include <cctype>
#include <regex>

namespace xervo::net {
namespace {

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// Replaces the run of token characters after each occurrence of `prefix`.
void redact_after(std::string& text, std::string_view prefix, bool case_insensitive) {
  size_t pos = 0;
  for (;;) {
    size_t at = std::string::npos;
    if (case_insensitive) {
      auto it = std::search(text.begin() + static_cast<std::ptrdiff_t>(pos), text.end(), prefix.begin(),
                            prefix.end(), [](char a, char b) {
                              return std::tolower(static_cast<unsigned char>(a)) ==
                                     std::tolower(static_cast<unsigned char>(b));
                            });
      if (it != text.end()) at = static_cast<size_t>(it - text.begin());
    } else {
      at = text.find(prefix, pos);
    }
    if (at == std::string::npos) return;
    size_t start = at + prefix.size();
    size_t end = start;
    while (end < text.size() && is_token_char(text[end])) ++end;
    if (end > start) text.replace(start, end - start, "[redacted]");
    pos = start + (end > start ? 10 : 0);
  }
}

// Tokens that look like API keys whatever variable they came from.
void redact_key_shapes(std::string& text) {
  static const std::regex shapes(
      R"((sk-[A-Za-z0-9_\-]{16,})|(AIza[0-9A-Za-z_\-]{30,})|(hf_[A-Za-z0-9]{20,}))");
  text = std::regex_replace(text, shapes, "[redacted]");
}

}  // namespace

std::string redact_secrets(std::string_view input, const std::vector<std::string>& secrets) {
  std::string text(input);
  for (const auto& secret : secrets) {
    if (secret.size() < 4) continue;  // too short to tell from ordinary text; never a real key
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at))
      text.replace(at, secret.size(), "[redacted]");
  }
  redact_after(text, "Bearer ", true);
  redact_after(text, "key=", true);
  redact_after(text, "x-goog-api-key: ", true);
  redact_key_shapes(text);
  return text;
}

std::string body_excerpt(std::string_view body, const std::vector<std::string>& secrets, size_t max_bytes) {
  // Redact on a window larger than the excerpt so that a secret straddling the cut is still found.
  std::string text = redact_secrets(body.substr(0, max_bytes + 256), secrets);
  bool cut = body.size() > max_bytes || text.size() > max_bytes;
  if (text.size() > max_bytes) {
    size_t end = max_bytes;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;  // no split code point
    text.resize(end);
  }
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  if (cut) text += "...";
  return text;
}

std::string api_error_message(const nlohmann::json& body) {
  if (!body.is_object()) return {};
  if (auto it = body.find("error"); it != body.end()) {
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object()) {
      if (auto m = it->find("message"); m != it->end() && m->is_string()) return m->get<std::string>();
    }
  }
  for (const char* key : {"message", "detail"})
    if (auto m = body.find(key); m != body.end() && m->is_string()) return m->get<std::string>();
  return {};
}

ErrorCode error_code_for_status(int status) {
  switch (status) {
    case 400:
    case 413:
    case 422:
      return ErrorCode::invalid_input;
    case 401:
      return ErrorCode::unauthorized;
    case 403:
      return ErrorCode::forbidden;
    case 404:
      return ErrorCode::model_not_found;
    case 408:
    case 504:
      return ErrorCode::timeout;
    case 429:
      return ErrorCode::rate_limited;
    case 500:
      return ErrorCode::inference_failed;
    default:
      break;
  }
  if (status >= 500) return ErrorCode::unavailable;
  if (status >= 400) return ErrorCode::invalid_input;
  return ErrorCode::inference_failed;  // 1xx/3xx as a final answer: nothing usable
}

Error error_from_response(const HttpResponse& response, const ApiContext& ctx,
                          std::optional<ErrorCode> code) {
  const ErrorCode c = code.value_or(error_code_for_status(response.status));
  const auto parsed = nlohmann::json::parse(response.body, nullptr, false);
  std::string detail = parsed.is_discarded() ? std::string() : api_error_message(parsed);
  detail = detail.empty() ? body_excerpt(response.body, ctx.secrets) : body_excerpt(detail, ctx.secrets, 300);

  std::string msg = ctx.service + " model '" + ctx.model + "' at " + ctx.base_url + ": HTTP " +
                    std::to_string(response.status);
  if (!detail.empty()) msg += ": " + detail;
  if (response.attempts > 1) msg += " (after " + std::to_string(response.attempts) + " attempts)";
  switch (c) {
    case ErrorCode::unauthorized:
      msg += ctx.key_sent ? "; the API key in $" + ctx.api_key_env + " was rejected: set a valid key there"
                          : "; no API key was sent: set $" + ctx.api_key_env;
      break;
    case ErrorCode::forbidden:
      msg += "; the key in $" + ctx.api_key_env + " is not allowed to use this model or endpoint";
      break;
    case ErrorCode::model_not_found:
      msg += "; check the model name and the base_url (does the server serve '" + ctx.model + "'?)";
      break;
    case ErrorCode::rate_limited:
      msg += "; retry later or raise the account's rate limit";
      break;
    default:
      break;
  }
  return Error(c, redact_secrets(msg, ctx.secrets));
}

Error malformed_response(const ApiContext& ctx, std::string_view expected, std::string_view body) {
  return Error(ErrorCode::inference_failed, ctx.service + " model '" + ctx.model + "' at " + ctx.base_url +
                                                " sent an unexpected response (expected " +
                                                std::string(expected) +
                                                "): " + body_excerpt(body, ctx.secrets));
}

}  // namespace xervo::net
