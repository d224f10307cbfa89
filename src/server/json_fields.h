// Typed access to the fields of a request body. Every accessor rejects (400, invalid_input) with a
// message naming the field and what was expected, so a client learns exactly what to fix.
// Stateless; safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace xervo::server {

// The body parsed as a JSON object, or a rejection saying where the JSON breaks.
nlohmann::json parse_json_object(std::string_view body);

std::string require_string(const nlohmann::json& object, const char* field);
std::optional<std::string> optional_string(const nlohmann::json& object, const char* field);
std::optional<bool> optional_bool(const nlohmann::json& object, const char* field);
// Integers in [min, max]; 3.0 is accepted as 3, 3.5 is not.
std::optional<int64_t> optional_int(const nlohmann::json& object, const char* field, int64_t min,
                                    int64_t max);
std::optional<double> optional_number(const nlohmann::json& object, const char* field, double min,
                                      double max);

// Ollama's keep_alive (parse_keep_alive): seconds, or a duration string ("5m", "1h30m", "-1"); negative
// means until evicted, 0 unloads the model when the call ends.
std::optional<std::chrono::milliseconds> optional_keep_alive(const nlohmann::json& object,
                                                             const char* field = "keep_alive");

// "string", "number", "array" ... for messages.
std::string json_type_name(const nlohmann::json& value);

}  // namespace xervo::server
