// Typed fields of a provider's options table (`[providers.X]` or a model's `options`, a JSON object
// read from TOML). Every error is config_invalid and names where the table is and the key; an
// absent key leaves `out` as it was. Shared by the providers so that their options read alike.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "xervo/error.h"

namespace xervo::options {

Error option_error(std::string_view where, std::string_view key, std::string_view what);

// `table` must be null (no options) or an object whose keys are all in `known`.
Result<void> check_keys(const nlohmann::json& table, std::string_view where,
                        std::span<const std::string_view> known);

Result<void> read_int(const nlohmann::json& table, std::string_view where, const char* key, int lo, int hi,
                      int& out);
Result<void> read_bool(const nlohmann::json& table, std::string_view where, const char* key, bool& out);
// At most `max_bytes` bytes.
Result<void> read_string(const nlohmann::json& table, std::string_view where, const char* key,
                         std::string& out, size_t max_bytes = 4096);

// The errors of one section of xervo.toml read key by key (`[server]`, `[cluster]`): each is
// config_invalid and reads "PREFIX KEY: WHAT", e.g. "[server] threads: must be an integer".
class Section {
 public:
  explicit Section(std::string prefix) : prefix_(std::move(prefix)) {}
  Error invalid(std::string_view key, std::string_view what) const;
  // An integer in [min, max], else invalid().
  Result<int64_t> integer(const nlohmann::json& v, std::string_view key, int64_t min, int64_t max) const;

 private:
  std::string prefix_;
};

}  // namespace xervo::options
