// [telemetry] of xervo.toml and the OTEL_* environment variables -> TelemetryOptions. Strict like
// [server]: an unknown key, a wrong type or a value out of range is an error naming where it came
// from, so a typo never leaves tracing silently off or pointed elsewhere. The variables win over the
// file (as XERVO_HOST does over [server] host): a deployment sets them per environment.
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <set>

#include "server/http_message.h"
#include "xervo/telemetry.h"
#include "core/text.h"

namespace xervo {
namespace {

Error invalid(const std::string& where, const std::string& what) {
  return Error(ErrorCode::config_invalid, where + ": " + what);
}

const std::set<std::string>& sampler_names() {
  static const std::set<std::string> names{"always_on",
                                           "always_off",
                                           "traceidratio",
                                           "parentbased_always_on",
                                           "parentbased_always_off",
                                           "parentbased_traceidratio"};
  return names;
}

Result<void> check_url(const std::string& url, const std::string& where) {
  if (!url.starts_with("http://") && !url.starts_with("https://"))
    return invalid(where,
                   "must be an http:// or https:// URL (OTLP/HTTP, usually port 4318), not '" + url + "'");
  if (url.size() > 2048) return invalid(where, "is longer than 2048 characters");
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return invalid(where, "holds a space or a control character");
  return {};
}

// OTEL_EXPORTER_OTLP_ENDPOINT is the collector's base URL: the signal's path is appended.
std::string traces_url(std::string base) {
  while (base.ends_with('/')) base.pop_back();
  return base + "/v1/traces";
}

Result<int64_t> parse_int(std::string_view text, const std::string& where, int64_t min, int64_t max) {
  std::string s(text);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end || errno == ERANGE || v < min || v > max)
    return invalid(where, "must be an integer between " + std::to_string(min) + " and " +
                              std::to_string(max) + ", not '" + s + "'");
  return static_cast<int64_t>(v);
}

Result<double> parse_ratio(std::string_view text, const std::string& where) {
  std::string s(text);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end || !(v >= 0.0 && v <= 1.0))
    return invalid(where, "must be a number between 0 and 1, not '" + s + "'");
  return v;
}

// W3C Baggage-like lists: "key1=value1,key2=value2", values percent-decoded (OTEL_EXPORTER_OTLP_HEADERS,
// OTEL_RESOURCE_ATTRIBUTES).
Result<std::vector<std::pair<std::string, std::string>>> parse_pairs(std::string_view text,
                                                                     const std::string& where) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(pos, comma - pos);
    pos = comma + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == 0 || eq == std::string_view::npos)
      return invalid(where, "must be a comma-separated list of key=value pairs");
    std::string key = server::percent_decode(item.substr(0, eq), false);
    std::string value = server::percent_decode(item.substr(eq + 1), false);
    while (!key.empty() && key.back() == ' ') key.pop_back();
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    out.emplace_back(std::move(key), std::move(value));
  }
  if (out.size() > 64) return invalid(where, "holds more than 64 pairs");
  return out;
}

// A header name and value that libcurl will send as given: no line breaks, a token for a name.
Result<void> check_header(const std::string& name, const std::string& value, const std::string& where) {
  if (name.empty()) return invalid(where, "holds a header without a name");
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
      return invalid(where, "header name '" + name + "' may hold only letters, digits, '-' and '_'");
  for (char c : value)
    if (c == '\r' || c == '\n' || c == '\0')
      return invalid(where, "header '" + name + "' holds a line break");
  return {};
}

Result<std::vector<std::pair<std::string, std::string>>> string_table(const nlohmann::json& v,
                                                                      const std::string& where) {
  if (!v.is_object()) return invalid(where, "must be a table of strings");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, value] : v.items()) {
    if (!value.is_string()) return invalid(where + "." + k, "must be a string");
    out.emplace_back(k, value.get<std::string>());
  }
  if (out.size() > 64) return invalid(where, "holds more than 64 entries");
  return out;
}

Result<int64_t> json_int(const nlohmann::json& v, const std::string& where, int64_t min, int64_t max) {
  if (!v.is_number_integer()) return invalid(where, "must be an integer");
  return parse_int(std::to_string(v.get<int64_t>()), where, min, max);
}

constexpr int64_t kMaxQueue = 1 << 20;
constexpr int64_t kMaxMs = 3600 * 1000;

// The file's keys; `explicit_enabled` says whether `enabled` was given.
Result<void> apply_section(const nlohmann::json& section, TelemetryOptions& o, bool& explicit_enabled) {
  if (section.is_null()) return {};
  if (!section.is_object()) return invalid("[telemetry]", "must be a table");
  std::string base, full;
  for (const auto& [key, v] : section.items()) {
    const std::string where = "[telemetry] " + key;
    if (key == "enabled") {
      if (!v.is_boolean()) return invalid(where, "must be true or false");
      o.enabled = v.get<bool>();
      explicit_enabled = true;
    } else if (key == "endpoint" || key == "traces_endpoint") {
      if (!v.is_string()) return invalid(where, "must be a string");
      std::string url = v.get<std::string>();
      if (auto r = check_url(url, where); !r.ok()) return r.error();
      (key == "traces_endpoint" ? full : base) = url;
    } else if (key == "protocol") {
      if (!v.is_string() || (v.get<std::string>() != "http/json" && v.get<std::string>() != "http/protobuf"))
        return invalid(where,
                       "must be \"http/json\" or \"http/protobuf\" (grpc is not supported: use the "
                       "collector's HTTP port, usually 4318)");
      o.protocol = v.get<std::string>();
    } else if (key == "headers") {
      auto t = string_table(v, where);
      if (!t.ok()) return t.error();
      o.headers = *t;
    } else if (key == "service_name") {
      if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>().size() > 256)
        return invalid(where, "must be a non-empty string of at most 256 bytes");
      o.service_name = v.get<std::string>();
    } else if (key == "resource_attributes") {
      auto t = string_table(v, where);
      if (!t.ok()) return t.error();
      o.resource_attributes = *t;
    } else if (key == "sampler") {
      if (!v.is_string() || !sampler_names().count(v.get<std::string>()))
        return invalid(where,
                       "must be always_on, always_off, traceidratio, parentbased_always_on, "
                       "parentbased_always_off or parentbased_traceidratio");
      o.sampler = v.get<std::string>();
    } else if (key == "sampler_ratio") {
      if (!v.is_number() || !(v.get<double>() >= 0.0 && v.get<double>() <= 1.0))
        return invalid(where, "must be a number between 0 and 1");
      o.sampler_ratio = v.get<double>();
    } else if (key == "batch_size" || key == "queue_size") {
      auto n = json_int(v, where, 1, kMaxQueue);
      if (!n.ok()) return n.error();
      (key == "batch_size" ? o.batch_size : o.queue_size) = static_cast<size_t>(*n);
    } else if (key == "export_interval_ms" || key == "export_timeout_ms") {
      auto n = json_int(v, where, 1, kMaxMs);
      if (!n.ok()) return n.error();
      (key == "export_interval_ms" ? o.export_interval : o.export_timeout) = std::chrono::milliseconds(*n);
    } else {
      return invalid(
          where,
          "unknown key (expected enabled, endpoint, traces_endpoint, protocol, headers, service_name, "
          "resource_attributes, sampler, sampler_ratio, batch_size, queue_size, "
          "export_interval_ms, export_timeout_ms)");
    }
  }
  // traces_endpoint is used as is and wins over endpoint, whatever their order in the file.
  if (!full.empty())
    o.traces_endpoint = full;
  else if (!base.empty())
    o.traces_endpoint = traces_url(base);
  return {};
}

std::optional<std::string> env_value(const EnvLookup& env, const char* name) {
  const char* v = env ? env(name) : nullptr;
  if (!v || !*v) return std::nullopt;  // empty counts as unset, as the specification says
  return std::string(v);
}

std::string lower(std::string_view s) { return text::ascii_lower(s); }

Result<void> apply_env(const EnvLookup& env, TelemetryOptions& o, bool& off) {
  if (auto v = env_value(env, "OTEL_SDK_DISABLED"); v && lower(*v) == "true") off = true;
  if (auto v = env_value(env, "OTEL_TRACES_EXPORTER")) {
    const std::string e = lower(*v);
    if (e == "none")
      off = true;
    else if (e != "otlp")
      return invalid("OTEL_TRACES_EXPORTER",
                     "must be otlp or none (xervo exports OTLP only), not '" + *v + "'");
  }
  for (const char* name : {"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"})
    if (auto v = env_value(env, name)) {
      if (*v != "http/json" && *v != "http/protobuf")
        return invalid(name,
                       "must be http/protobuf or http/json; grpc is not supported: point the endpoint at "
                       "the collector's HTTP port, usually 4318");
      o.protocol = *v;  // the TRACES_ variable comes second: it wins
    }
  if (auto v = env_value(env, "OTEL_EXPORTER_OTLP_ENDPOINT")) {
    if (auto r = check_url(*v, "OTEL_EXPORTER_OTLP_ENDPOINT"); !r.ok()) return r.error();
    o.traces_endpoint = traces_url(*v);
  }
  if (auto v = env_value(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
    if (auto r = check_url(*v, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); !r.ok()) return r.error();
    o.traces_endpoint = *v;
  }
  for (const char* name : {"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"})
    if (auto v = env_value(env, name)) {
      auto pairs = parse_pairs(*v, name);
      if (!pairs.ok()) return pairs.error();
      o.headers = *pairs;
    }
  for (const char* name :
       {"OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_BSP_EXPORT_TIMEOUT"})
    if (auto v = env_value(env, name)) {
      auto n = parse_int(*v, name, 1, kMaxMs);
      if (!n.ok()) return n.error();
      o.export_timeout = std::chrono::milliseconds(*n);
    }
  if (auto v = env_value(env, "OTEL_BSP_SCHEDULE_DELAY")) {
    auto n = parse_int(*v, "OTEL_BSP_SCHEDULE_DELAY", 1, kMaxMs);
    if (!n.ok()) return n.error();
    o.export_interval = std::chrono::milliseconds(*n);
  }
  if (auto v = env_value(env, "OTEL_BSP_MAX_QUEUE_SIZE")) {
    auto n = parse_int(*v, "OTEL_BSP_MAX_QUEUE_SIZE", 1, kMaxQueue);
    if (!n.ok()) return n.error();
    o.queue_size = static_cast<size_t>(*n);
  }
  if (auto v = env_value(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE")) {
    auto n = parse_int(*v, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1, kMaxQueue);
    if (!n.ok()) return n.error();
    o.batch_size = static_cast<size_t>(*n);
  }
  if (auto v = env_value(env, "OTEL_RESOURCE_ATTRIBUTES")) {
    auto pairs = parse_pairs(*v, "OTEL_RESOURCE_ATTRIBUTES");
    if (!pairs.ok()) return pairs.error();
    for (auto& [k, value] : *pairs) {
      if (k == "service.name")
        o.service_name = value;
      else
        o.resource_attributes.emplace_back(std::move(k), std::move(value));
    }
  }
  if (auto v = env_value(env, "OTEL_SERVICE_NAME")) {
    if (v->size() > 256) return invalid("OTEL_SERVICE_NAME", "is longer than 256 bytes");
    o.service_name = *v;
  }
  if (auto v = env_value(env, "OTEL_TRACES_SAMPLER")) {
    if (!sampler_names().count(*v))
      return invalid(
          "OTEL_TRACES_SAMPLER",
          "must be always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off "
          "or parentbased_traceidratio, not '" +
              *v + "'");
    o.sampler = *v;
  }
  if (auto v = env_value(env, "OTEL_TRACES_SAMPLER_ARG"); v && o.sampler.ends_with("traceidratio")) {
    auto r = parse_ratio(*v, "OTEL_TRACES_SAMPLER_ARG");
    if (!r.ok()) return r.error();
    o.sampler_ratio = *r;
  }
  return {};
}

}  // namespace

Result<TelemetryOptions> parse_telemetry_options(const nlohmann::json& section, const EnvLookup& env) {
  TelemetryOptions o;
  bool explicit_enabled = false;
  if (auto r = apply_section(section, o, explicit_enabled); !r.ok()) return r.error();
  bool off = false;
  if (auto r = apply_env(env, o, off); !r.ok()) return r.error();
  for (const auto& [name, value] : o.headers)
    if (auto r = check_header(name, value, "[telemetry] headers"); !r.ok()) return r.error();
  if (!explicit_enabled) o.enabled = !o.traces_endpoint.empty();
  if (off) o.enabled = false;
  if (o.enabled && o.traces_endpoint.empty())
    return invalid("[telemetry] enabled",
                   "is true but no endpoint is set: add endpoint = \"http://HOST:4318\" or set "
                   "OTEL_EXPORTER_OTLP_ENDPOINT");
  if (o.batch_size > o.queue_size)
    return invalid("[telemetry] batch_size", "(" + std::to_string(o.batch_size) +
                                                 ") is larger than queue_size (" +
                                                 std::to_string(o.queue_size) + ")");
  return o;
}

Result<TelemetryOptions> parse_telemetry_options(const nlohmann::json& section) {
  return parse_telemetry_options(section, [](const char* name) -> const char* { return std::getenv(name); });
}

}  // namespace xervo
