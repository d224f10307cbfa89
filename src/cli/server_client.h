// How CLI commands talk to a running `xervo serve`: the --url and --api-key-env flags, and one JSON
// call that turns the server's error answer back into the Error (code and message) the server sent.
// The key is read from an environment variable, never from the command line (where `ps` shows it).
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace xervo::cli {

struct ServerFlags {
  std::string url;                            // --url; empty: $XERVO_URL
  std::string api_key_env = "XERVO_API_KEY";  // --api-key-env: the variable holding the key
};

void add_server_flags(CLI::App* command, ServerFlags& flags, std::string_view url_default);

// --url, else $XERVO_URL, else `fallback`; without a trailing slash. invalid_input unless http(s)://.
std::string server_url(const ServerFlags& flags, std::string_view fallback);

// GET `path` (body null) or POST it with `body`; the answer's JSON. Throws Exception: the server's own
// error (code and message), unavailable when it cannot be reached or answers something else.
nlohmann::json call_server(const ServerFlags& flags, const std::string& base_url, const std::string& path,
                           const nlohmann::json& body = nullptr);

}  // namespace xervo::cli
