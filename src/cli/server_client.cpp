#include "cli/server_client.h"

#include <cstdlib>

#include "net/http_client.h"
#include "xervo/error.h"

namespace xervo::cli {
namespace {

// A swap or a load waits for the model: minutes on a large file, never forever.
constexpr std::chrono::minutes kCallTimeout{15};

std::string env(const std::string& name) {
  const char* v = name.empty() ? nullptr : std::getenv(name.c_str());
  return v ? v : "";
}

Error server_error(const ServerFlags& flags, const std::string& base_url, const net::HttpResponse& response) {
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const auto& e = body["error"];
    std::string code = e.value("code", "");
    std::string message = e.value("message", "");
    if (code == "unauthorized" || code == "forbidden")
      message += " (the key is read from $" + flags.api_key_env + "; these commands need the admin scope)";
    if (auto parsed = parse_error_code(code)) return Error(*parsed, message);
    if (code == "route_not_found")
      return Error(ErrorCode::unavailable,
                   base_url + " has no such route (" + message + "); is it an up-to-date xervo serve?");
    return Error(ErrorCode::unavailable,
                 base_url + " answered " + std::to_string(response.status) + " " + code + ": " + message);
  }
  return Error(ErrorCode::unavailable, base_url + " answered " + std::to_string(response.status) +
                                           " without an error body; is it xervo serve?");
}

}  // namespace

void add_server_flags(CLI::App* command, ServerFlags& flags, std::string_view url_default) {
  command->add_option("--url", flags.url,
                      "the running xervo serve, e.g. http://127.0.0.1:8080 (default: $XERVO_URL, else " +
                          std::string(url_default) + ")");
  command->add_option("--api-key-env", flags.api_key_env,
                      "environment variable holding an admin API key (default XERVO_API_KEY)");
}

std::string server_url(const ServerFlags& flags, std::string_view fallback) {
  std::string url = !flags.url.empty() ? flags.url : env("XERVO_URL");
  if (url.empty()) url = fallback;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (!url.empty() && !url.starts_with("http://") && !url.starts_with("https://"))
    throw Exception(
        Error(ErrorCode::invalid_input, "--url must start with http:// or https://, not '" + url + "'"));
  return url;
}

nlohmann::json call_server(const ServerFlags& flags, const std::string& base_url, const std::string& path,
                           const nlohmann::json& body) {
  net::HttpRequest request;
  request.method = body.is_null() ? "GET" : "POST";
  request.url = base_url + path;
  request.timeout = kCallTimeout;
  request.max_body_bytes = 64ull << 20;
  request.headers.add("Accept", "application/json");
  if (std::string key = env(flags.api_key_env); !key.empty())
    request.headers.add("Authorization", "Bearer " + key);
  if (!body.is_null()) {
    request.headers.add("Content-Type", "application/json");
    request.body = body.dump();
  }
  auto outcome = net::HttpClient::shared()->perform(request);
  if (!outcome.ok())
    throw Exception(Error(net::error_code_for(outcome.error),
                          "cannot reach xervo serve at " + base_url + ": " + outcome.message));
  const auto& response = outcome.response;
  if (!response.success()) throw Exception(server_error(flags, base_url, response));
  auto parsed = nlohmann::json::parse(response.body, nullptr, false);
  if (parsed.is_discarded())
    throw Exception(Error(ErrorCode::unavailable, base_url + path + " answered something that is not JSON"));
  return parsed;
}

}  // namespace xervo::cli
