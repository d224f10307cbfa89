// `xervo ps`: what is loaded, as `ollama ps` shows it: each model with its task, state, memory
// (measured, else the estimate), until when it stays (its keep-alive), whether it is pinned and the
// calls in flight, then the memory budget and what is used of it. From a running server
// (GET /v1/runtime/models) with --url or $XERVO_URL; else from the local runtime the config builds,
// which loads nothing (it shows the budget and, with --all, the aliases).
#include <algorithm>
#include <cstdio>

#include "cli/command.h"
#include "cli/server_client.h"
#if XERVO_HAVE_SERVER
#include "server/runtime_json.h"
#endif

namespace xervo::cli {
namespace {

using nlohmann::json;

struct PsFlags {
  ServerFlags server;
  bool all = false;
  bool json = false;
};

std::string bytes_text(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", v, kUnits[unit]);
  return text;
}

// "30 seconds", "1 minute", "4 minutes", "2 hours", "3 days".
std::string duration_text(int64_t ms) {
  struct Unit {
    int64_t ms;
    const char* name;
  };
  static constexpr Unit kUnits[] = {
      {86'400'000, "day"}, {3'600'000, "hour"}, {60'000, "minute"}, {1000, "second"}};
  if (ms < 1000) return "a moment";
  for (const auto& u : kUnits) {
    if (ms < u.ms) continue;
    int64_t n = (ms + u.ms / 2) / u.ms;
    return std::to_string(n) + " " + u.name + (n == 1 ? "" : "s");
  }
  return "a moment";
}

std::string until_text(const json& m, int64_t now_ms) {
  if (m.value("pinned", false)) return "forever";
  const int64_t keep_alive = m.value("keep_alive_ms", int64_t{-1});
  if (keep_alive < 0) return "forever";
  if (const auto& at = m.value("expires_at_ms", json()); at.is_number())
    return at.get<int64_t>() <= now_ms ? "now" : "in " + duration_text(at.get<int64_t>() - now_ms);
  if (keep_alive == 0) return "after this call";
  return duration_text(keep_alive) + " after the last call";  // busy: the clock starts when it is idle
}

std::string memory_text(const json& m) {
  uint64_t measured = m.value("memory_bytes", uint64_t{0});
  if (measured == 0 && m.contains("measured")) measured = m["measured"].value("total", uint64_t{0});
  if (m.value("state", "") == "loaded" && measured > 0) return bytes_text(measured);
  uint64_t estimate = m.contains("estimated") ? m["estimated"].value("total", uint64_t{0}) : 0;
  if (estimate > 0) return bytes_text(estimate) + " (est.)";
  return measured > 0 ? bytes_text(measured) : "-";
}

std::string name_of(const json& m) {
  std::string names;
  for (const auto& a : m.value("aliases", json::array()))
    if (a.is_string()) names += (names.empty() ? "" : ",") + a.get<std::string>();
  return names.empty() ? m.value("key", "?") : names;
}

void print_rows(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i)
      line += i + 1 == row.size() ? row[i] : row[i] + std::string(width[i] - row[i].size() + 3, ' ');
    std::printf("%s\n", line.c_str());
  }
}

void print_memory(const json& mem) {
  const uint64_t budget = mem.value("budget", uint64_t{0});
  std::string line = "memory: " + bytes_text(mem.value("used", uint64_t{0})) + " used of " +
                     (budget ? "a " + bytes_text(budget) + " budget" : "no budget");
  if (uint64_t physical = mem.value("physical", uint64_t{0}))
    line += " (" + bytes_text(physical) + " physical)";
  const int64_t loaded = mem.value("loaded", int64_t{0}), max_loaded = mem.value("max_loaded", int64_t{0});
  line += "; " + std::to_string(loaded) + (loaded == 1 ? " model" : " models") + " loaded";
  if (max_loaded > 0) line += " (at most " + std::to_string(max_loaded) + ")";
  std::printf("%s\n", line.c_str());
}

void print_ps(const json& status, bool all) {
  const int64_t now_ms = status.value("now_ms", int64_t{0});
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "TASK", "STATE", "MEMORY", "UNTIL", "PINNED", "IN FLIGHT"}};
  std::vector<std::string> keys;
  for (const auto& m : status.value("models", json::array())) {
    std::string state = m.value("state", "");
    keys.push_back(m.value("key", ""));
    if (!all && state != "loaded" && state != "loading") continue;
    rows.push_back({name_of(m), m.value("task", ""), state, memory_text(m), until_text(m, now_ms),
                    m.value("pinned", false) ? "yes" : "no",
                    std::to_string(m.value("in_flight", int64_t{0}))});
  }
  if (all)  // aliases whose model was never loaded
    for (const auto& a : status.value("aliases", json::array()))
      if (std::find(keys.begin(), keys.end(), a.value("key", "")) == keys.end())
        rows.push_back({a.value("alias", ""), a.value("task", ""), "unloaded", "-", "-",
                        a.value("pin", false) ? "yes" : "no", "0"});
  std::sort(rows.begin() + 1, rows.end());
  if (rows.size() == 1)
    std::printf("no models loaded%s\n", all ? "" : " (--all lists every alias and model tried)");
  else
    print_rows(rows);
  print_memory(status.value("memory", json::object()));
}

json local_status(const GlobalOptions& globals) {
#if XERVO_HAVE_SERVER
  auto runtime = open_runtime(globals);  // lazy: nothing is loaded to answer
  return server::runtime_json(*runtime);
#else
  (void)globals;
  throw Exception(
      Error(ErrorCode::unavailable, "this build has no server code; pass --url of a running xervo serve"));
#endif
}

void setup_ps(CLI::App& app, GlobalOptions& globals) {
  auto flags = std::make_shared<PsFlags>();
  auto* cmd = app.add_subcommand("ps", "Show loaded models: memory, keep-alive, pinned, calls in flight");
  add_server_flags(cmd, flags->server, "the local runtime of the config, which loads nothing");
  cmd->add_flag("--all", flags->all, "also models that failed or were unloaded, and aliases never loaded");
  cmd->add_flag("--json", flags->json, "print the server's answer (GET /v1/runtime/models) as JSON");
  cmd->callback([&globals, flags] {
    std::string url = server_url(flags->server, "");
    json status = url.empty() ? local_status(globals) : call_server(flags->server, url, "/v1/runtime/models");
    if (flags->json)
      std::printf("%s\n", status.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    else
      print_ps(status, flags->all);
  });
}

}  // namespace

XERVO_CLI_COMMAND(12, setup_ps);

}  // namespace xervo::cli
