#include "server/json_fields.h"

#include <cmath>

#include "server/api_error.h"
#include "xervo/config.h"

namespace xervo::server {
namespace {

const nlohmann::json* find_field(const nlohmann::json& object, const char* field) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string range_text(double min, double max) {
  auto fmt = [](double v) {
    std::string s = std::to_string(v);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  };
  return "between " + fmt(min) + " and " + fmt(max);
}

}  // namespace

std::string json_type_name(const nlohmann::json& value) {
  if (value.is_number()) return "number";
  return value.type_name();
}

nlohmann::json parse_json_object(std::string_view body) {
  if (body.empty())
    reject_input("the request body is empty; send a JSON object with Content-Type: application/json");
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    reject_input("the request body is not valid JSON (at byte " + std::to_string(e.byte) + ")");
  }
  if (!parsed.is_object())
    reject_input("the request body must be a JSON object, not " + json_type_name(parsed));
  return parsed;
}

std::string require_string(const nlohmann::json& object, const char* field) {
  auto v = optional_string(object, field);
  if (!v) reject_input(std::string("'") + field + "' is required");
  return *v;
}

std::optional<std::string> optional_string(const nlohmann::json& object, const char* field) {
  const auto* v = find_field(object, field);
  if (!v) return std::nullopt;
  if (!v->is_string())
    reject_input(std::string("'") + field + "' must be a string, not " + json_type_name(*v));
  return v->get<std::string>();
}

std::optional<bool> optional_bool(const nlohmann::json& object, const char* field) {
  const auto* v = find_field(object, field);
  if (!v) return std::nullopt;
  if (!v->is_boolean())
    reject_input(std::string("'") + field + "' must be true or false, not " + json_type_name(*v));
  return v->get<bool>();
}

std::optional<int64_t> optional_int(const nlohmann::json& object, const char* field, int64_t min,
                                    int64_t max) {
  const auto* v = find_field(object, field);
  if (!v) return std::nullopt;
  int64_t n = 0;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      reject_input(std::string("'") + field + "' is out of range");
    n = v->get<int64_t>();
  } else if (v->is_number_float()) {
    double d = v->get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e15)
      reject_input(std::string("'") + field + "' must be an integer");
    n = static_cast<int64_t>(d);
  } else {
    reject_input(std::string("'") + field + "' must be an integer, not " + json_type_name(*v));
  }
  if (n < min || n > max)
    reject_input(std::string("'") + field + "' must be " +
                 range_text(static_cast<double>(min), static_cast<double>(max)) + ", got " +
                 std::to_string(n));
  return n;
}

std::optional<double> optional_number(const nlohmann::json& object, const char* field, double min,
                                      double max) {
  const auto* v = find_field(object, field);
  if (!v) return std::nullopt;
  if (!v->is_number())
    reject_input(std::string("'") + field + "' must be a number, not " + json_type_name(*v));
  double d = v->get<double>();
  if (!std::isfinite(d) || d < min || d > max)
    reject_input(std::string("'") + field + "' must be " + range_text(min, max));
  return d;
}

std::optional<std::chrono::milliseconds> optional_keep_alive(const nlohmann::json& object,
                                                             const char* field) {
  const auto* v = find_field(object, field);
  if (!v) return std::nullopt;
  auto parsed = parse_keep_alive(*v);
  if (!parsed.ok()) reject_input(std::string("'") + field + "': " + parsed.error().message());
  return *parsed;
}

}  // namespace xervo::server
