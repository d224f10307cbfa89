#include "core/option_fields.h"

namespace xervo::options {

Error option_error(std::string_view where, std::string_view key, std::string_view what) {
  return Error(ErrorCode::config_invalid,
               std::string(where) + " option '" + std::string(key) + "': " + std::string(what));
}

Result<void> check_keys(const nlohmann::json& table, std::string_view where,
                        std::span<const std::string_view> known) {
  if (table.is_null()) return {};
  if (!table.is_object())
    return Error(ErrorCode::config_invalid, std::string(where) + " must be a table/object");
  for (const auto& [key, value] : table.items()) {
    bool found = false;
    for (auto k : known) found = found || k == key;
    if (found) continue;
    std::string list;
    for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    return option_error(where, key, "unknown option (known: " + list + ")");
  }
  return {};
}

Result<void> read_int(const nlohmann::json& table, std::string_view where, const char* key, int lo, int hi,
                      int& out) {
  if (!table.contains(key)) return {};
  const auto& v = table.at(key);
  if (!v.is_number_integer()) return option_error(where, key, "expected an integer, got " + v.dump());
  const auto x = v.get<int64_t>();
  if (x < lo || x > hi)
    return option_error(
        where, key,
        "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(x));
  out = static_cast<int>(x);
  return {};
}

Result<void> read_bool(const nlohmann::json& table, std::string_view where, const char* key, bool& out) {
  if (!table.contains(key)) return {};
  const auto& v = table.at(key);
  if (!v.is_boolean()) return option_error(where, key, "expected true or false, got " + v.dump());
  out = v.get<bool>();
  return {};
}

Result<void> read_string(const nlohmann::json& table, std::string_view where, const char* key,
                         std::string& out, size_t max_bytes) {
  if (!table.contains(key)) return {};
  const auto& v = table.at(key);
  if (!v.is_string() || v.get<std::string>().size() > max_bytes)
    return option_error(
        where, key,
        "expected a string (at most " + std::to_string(max_bytes) + " bytes), got " + v.dump().substr(0, 80));
  out = v.get<std::string>();
  return {};
}

Error Section::invalid(std::string_view key, std::string_view what) const {
  return Error(ErrorCode::config_invalid, prefix_ + std::string(key) + ": " + std::string(what));
}

Result<int64_t> Section::integer(const nlohmann::json& v, std::string_view key, int64_t min, int64_t max) const {
  if (!v.is_number_integer()) return invalid(key, "must be an integer");
  const auto n = v.get<int64_t>();
  if (n < min || n > max)
    return invalid(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return n;
}

}  // namespace xervo::options
