// [runtime] of xervo.toml: the memory budget, max_loaded and keep-alive defaults (RuntimeLimits), and
// the value syntaxes they share with per-alias keys and requests: sizes ("12GiB", "75%") and
// Ollama-style keep-alive durations ("5m", 300, -1).
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cmath>

#include "xervo/config.h"
#include "xervo/runtime.h"

namespace xervo {
namespace {

Error bad_size(const nlohmann::json& value) {
  return Error(ErrorCode::invalid_input,
               "'" + value.dump() +
                   "' is not a memory size: give bytes (12884901888), a size with a unit (\"12GiB\", "
                   "\"512MB\", \"800KiB\") or a share of physical memory (\"75%\")");
}

Error bad_duration(const nlohmann::json& value) {
  return Error(ErrorCode::invalid_input,
               "'" + value.dump() +
                   "' is not a keep-alive: give seconds (300), a duration (\"5m\", \"1h30m\", \"250ms\"), "
                   "0 (unload right after use) or -1 (keep loaded)");
}

// A decimal number at the front of `text`; the rest is left in `text`.
std::optional<double> take_number(std::string_view& text) {
  size_t n = 0;
  while (n < text.size() && (std::isdigit(static_cast<unsigned char>(text[n])) || text[n] == '.')) ++n;
  if (n == 0) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + n, v);
  if (ec != std::errc() || ptr != text.data() + n) return std::nullopt;
  text.remove_prefix(n);
  return v;
}

}  // namespace

uint64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

Result<uint64_t> parse_memory_size(const nlohmann::json& value, uint64_t physical) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer()) {
    if (value.get<int64_t>() < 0) return bad_size(value);
    return static_cast<uint64_t>(value.get<int64_t>());
  }
  if (!value.is_string()) return bad_size(value);
  std::string_view text = value.get_ref<const std::string&>();
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  auto number = take_number(text);
  if (!number || !std::isfinite(*number)) return bad_size(value);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  double scale = 0;
  if (text == "%") {
    if (*number <= 0 || *number > 100)
      return Error(ErrorCode::invalid_input,
                   "'" + value.dump() + "': a share of physical memory must be above 0% and at most 100%");
    if (physical == 0)
      return Error(ErrorCode::invalid_input,
                   "'" + value.dump() + "': the machine's physical memory is unknown; give bytes");
    return static_cast<uint64_t>(static_cast<double>(physical) * *number / 100.0);
  }
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"", 1},       {"B", 1},         {"KB", 1e3},        {"MB", 1e6},           {"GB", 1e9},
      {"TB", 1e12},  {"KiB", 1024.0},  {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
      {"K", 1024.0}, {"M", 1048576.0}, {"G", 1073741824.0}};
  for (const auto& [unit, factor] : kUnits)
    if (text == unit) scale = factor;
  if (scale == 0) return bad_size(value);
  const double bytes = *number * scale;
  if (bytes >= 1.8e19) return bad_size(value);
  return static_cast<uint64_t>(bytes);
}

Result<std::chrono::milliseconds> parse_keep_alive(const nlohmann::json& value) {
  using std::chrono::milliseconds;
  constexpr double kMaxSeconds = 100.0 * 365 * 24 * 3600;  // longer is "forever" in all but name
  if (value.is_number()) {
    const double seconds = value.get<double>();
    if (!std::isfinite(seconds) || seconds > kMaxSeconds) return bad_duration(value);
    if (seconds < 0) return milliseconds(-1);
    return milliseconds(static_cast<int64_t>(seconds * 1000.0));
  }
  if (!value.is_string()) return bad_duration(value);
  std::string_view text = value.get_ref<const std::string&>();
  if (text.empty()) return bad_duration(value);
  const bool negative = text.front() == '-';
  if (negative) text.remove_prefix(1);
  double total_ms = 0;
  bool any = false;
  while (!text.empty()) {
    auto number = take_number(text);
    if (!number) return bad_duration(value);
    double unit_ms = 0;
    static constexpr std::pair<std::string_view, double> kUnits[] = {
        {"ms", 1.0}, {"s", 1000.0}, {"m", 60000.0}, {"h", 3600000.0}};
    for (const auto& [unit, factor] : kUnits) {
      if (text.starts_with(unit) && unit_ms == 0) {
        // "ms" before "m": the table order makes "5ms" milliseconds, not minutes followed by "s".
        unit_ms = factor;
        text.remove_prefix(unit.size());
      }
    }
    if (unit_ms == 0) {
      if (!text.empty() || any) return bad_duration(value);
      unit_ms = 1000.0;  // a bare number in a string: seconds, as Ollama reads it
    }
    total_ms += *number * unit_ms;
    any = true;
  }
  if (negative) {
    if (total_ms > 0) return milliseconds(-1);
    return bad_duration(value);
  }
  if (total_ms > kMaxSeconds * 1000.0) return bad_duration(value);
  return milliseconds(static_cast<int64_t>(total_ms));
}

RuntimeLimits default_runtime_limits() {
  RuntimeLimits limits;
  limits.memory_budget = physical_memory_bytes() / 4 * 3;
  return limits;
}

namespace {

// A device's budget: bytes or a size ("4GiB"); a percentage would need the device's size, which
// the runtime learns only from a provider, so it is refused.
Result<uint64_t> parse_device_bytes(const nlohmann::json& value) {
  if (value.is_string() && value.get<std::string>().ends_with('%'))
    return Error(ErrorCode::config_invalid, "a device's budget is a size such as \"4GiB\", not a percentage");
  return parse_memory_size(value, 0);
}

bool device_name_ok(const std::string& name) {
  if (name == "*") return true;
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.' && c != ':') return false;
  return true;
}

// "4GiB" (every device) or { Vulkan0 = "4GiB", "*" = "2GiB" }.
Result<std::map<std::string, uint64_t>> parse_device_budget(const nlohmann::json& value) {
  std::map<std::string, uint64_t> out;
  if (!value.is_object()) {
    auto bytes = parse_device_bytes(value);
    if (!bytes) return bytes.error();
    out["*"] = *bytes;
    return out;
  }
  if (value.size() > 64) return Error(ErrorCode::config_invalid, "at most 64 devices");
  for (const auto& [device, size] : value.items()) {
    if (!device_name_ok(device))
      return Error(ErrorCode::config_invalid,
                   "device names are 1 to 64 of [A-Za-z0-9_.:-] as `xervo status` lists them, or \"*\"");
    auto bytes = parse_device_bytes(size);
    if (!bytes) return Error(ErrorCode::config_invalid, device + ": " + bytes.error().message());
    out[device] = *bytes;
  }
  return out;
}

}  // namespace

Result<RuntimeLimits> parse_runtime_limits(const Config& config) {
  RuntimeLimits limits = default_runtime_limits();
  if (!config.runtime.is_object()) return limits;
  auto fail = [&](const std::string& key, const std::string& what) {
    return Error(ErrorCode::config_invalid,
                 config.where("runtime." + key) + ": runtime." + key + ": " + what);
  };
  for (const auto& [key, value] : config.runtime.items()) {
    if (key == "memory_budget") {
      if (value.is_number_integer() && value.get<int64_t>() == 0) {
        limits.memory_budget = 0;  // explicitly no budget
        continue;
      }
      auto bytes = parse_memory_size(value, physical_memory_bytes());
      if (!bytes) return fail(key, bytes.error().message() + " (0 for no budget)");
      limits.memory_budget = *bytes;
    } else if (key == "device_memory_budget") {
      auto devices = parse_device_budget(value);
      if (!devices) return fail(key, devices.error().message());
      limits.device_memory_budget = std::move(*devices);
    } else if (key == "max_loaded") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > 1000000)
        return fail(key, "must be a count of models (0 for no limit)");
      limits.max_loaded = value.get<int64_t>();
    } else if (key == "keep_alive" || key == "adhoc_keep_alive") {
      auto keep = parse_keep_alive(value);
      if (!keep) return fail(key, keep.error().message());
      (key == "keep_alive" ? limits.keep_alive : limits.adhoc_keep_alive) = *keep;
    } else {
      return fail(key, "unknown key (known keys: memory_budget, device_memory_budget, max_loaded, keep_alive, "
                       "adhoc_keep_alive)");
    }
  }
  return limits;
}

}  // namespace xervo
