// The keys file: API keys that `xervo keys create|revoke` manage and a running server re-reads when
// the file changes ([server.auth] keys_file; xervo serve: XERVO_HOME/keys.json). JSON
// {"version": 1, "keys": [{name, sha256, scopes, roles, allow_ips, requests_per_minute,
// tokens_per_minute, created}]}: only hashes, never a key. Writes are atomic (temporary file, fsync,
// rename) under an advisory lock, so two CLI calls never lose each other's key.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "xervo/error.h"
#include "xervo/server.h"

namespace xervo::server {

struct StoredKey {
  ApiKey key;
  std::string created;  // ISO 8601 UTC
};

// One {name, sha256, scopes, roles, ...} table of the config or the keys file (fields checked for type;
// validate_key checks the rest). `where` names it in errors.
Result<ApiKey> parse_api_key_entry(const nlohmann::json& entry, const std::string& where,
                                   std::string* created = nullptr);
nlohmann::json api_key_json(const StoredKey& key);

// nullopt when the file does not exist; invalid_input / io_error naming the file when it is unreadable.
Result<std::optional<std::vector<StoredKey>>> read_keys_file(const std::filesystem::path& path);

// Reads, lets `change` edit the list, and writes it back atomically, all under the file's lock.
Result<void> update_keys_file(const std::filesystem::path& path,
                              const std::function<Result<void>(std::vector<StoredKey>&)>& change);

// Writes `text` to `path` atomically (a temporary file beside it, fsync, rename, fsync of the folder).
Result<void> write_file_atomically(const std::filesystem::path& path, const std::string& text);

}  // namespace xervo::server
