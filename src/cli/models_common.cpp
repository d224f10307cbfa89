// Helpers of the `xervo models` subcommands (models_common.h).
#if XERVO_HAVE_LIBRARY

#include "cli/models_common.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace xervo::cli {

LibraryOptions library_options(const Config& config) {
  return library_options_from_json(config.library, config.path).value_or_throw();
}

std::shared_ptr<ModelLibrary> open_library(const Config& config) {
  return ModelLibrary::open(library_options(config)).value_or_throw();
}

std::shared_ptr<ModelLibrary> open_library(const GlobalOptions& globals) {
  return open_library(load_config(globals));
}

std::string human_size(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

uint64_t parse_size(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  double mult = 1;
  if (unit == "K" || unit == "k" || unit == "KB" || unit == "KiB")
    mult = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MiB")
    mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GiB")
    mult = 1024.0 * 1024 * 1024;
  else if (!unit.empty() || end == text.c_str())
    throw Exception(Error(ErrorCode::invalid_input, "bad size '" + text + "': use a number with K, M or G"));
  if (v < 0 || !std::isfinite(v)) throw Exception(Error(ErrorCode::invalid_input, "bad size '" + text + "'"));
  return static_cast<uint64_t>(v * mult);
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

void print_json(const nlohmann::json& j) { std::printf("%s\n", j.dump(2).c_str()); }

}  // namespace xervo::cli

#endif
