// `xervo cache stats` and `xervo cache clear`: the response cache's counters per tier, and emptying
// it. From a running server (GET /v1/runtime/cache, POST /v1/runtime/cache/clear) with --url or
// $XERVO_URL; else the disk tier of the config's [cache] (the memory tier lives in the server).
#include <cstdio>

#include "cli/command.h"
#include "cli/server_client.h"
#include "core/cache_stats_json.h"

namespace xervo::cli {
namespace {

using nlohmann::json;

struct CacheFlags {
  ServerFlags server;
  bool json = false;
};

void print_stats(const json& s) {
  if (!s.value("enabled", false)) {
    std::printf("the response cache is off ([cache] enabled = true in xervo.toml turns it on)\n");
    return;
  }
  std::printf("%-8s %10s %10s %10s %14s %10s %8s\n", "TIER", "HITS", "MISSES", "ENTRIES", "BYTES", "EVICTED",
              "CORRUPT");
  for (const char* tier : {"memory", "disk"}) {
    const json& t = s.value(tier, json::object());
    std::printf("%-8s %10llu %10llu %10llu %14llu %10llu %8llu\n", tier,
                static_cast<unsigned long long>(t.value("hits", uint64_t{0})),
                static_cast<unsigned long long>(t.value("misses", uint64_t{0})),
                static_cast<unsigned long long>(t.value("entries", uint64_t{0})),
                static_cast<unsigned long long>(t.value("bytes", uint64_t{0})),
                static_cast<unsigned long long>(t.value("evictions", uint64_t{0})),
                static_cast<unsigned long long>(t.value("corrupt", uint64_t{0})));
  }
  const json& m = s.value("semantic", json::object());
  auto count = [&](const char* key) { return static_cast<unsigned long long>(m.value(key, uint64_t{0})); };
  std::printf("semantic: %llu hits, %llu misses (%llu embedding errors), %llu prompts, %llu evicted\n",
              count("hits"), count("misses"), count("errors"), count("entries"), count("evictions"));
  std::printf("joined identical calls in flight: %llu; answers kept: %llu\n",
              static_cast<unsigned long long>(s.value("joined", uint64_t{0})),
              static_cast<unsigned long long>(s.value("stores", uint64_t{0})));
}

void setup_cache(CLI::App& app, GlobalOptions& globals) {
  auto* cmd = app.add_subcommand("cache", "Response cache: counters per tier, or empty it");
  cmd->require_subcommand(1);
  auto flags = std::make_shared<CacheFlags>();
  auto* stats = cmd->add_subcommand("stats", "Hits, misses, entries and bytes per tier");
  add_server_flags(stats, flags->server, "the disk tier of the config's [cache]");
  stats->add_flag("--json", flags->json, "print the counters as JSON");
  stats->callback([&globals, flags] {
    std::string url = server_url(flags->server, "");
    json s = url.empty() ? cache_stats_json(open_runtime(globals)->cache_stats())
                         : call_server(flags->server, url, "/v1/runtime/cache");
    if (flags->json)
      std::printf("%s\n", s.dump(2).c_str());
    else
      print_stats(s);
  });
  auto* clear = cmd->add_subcommand("clear", "Remove every cached answer (memory and disk)");
  add_server_flags(clear, flags->server, "the disk tier of the config's [cache]");
  clear->callback([&globals, flags] {
    std::string url = server_url(flags->server, "");
    if (url.empty()) {
      auto runtime = open_runtime(globals);
      const auto before = runtime->cache_stats();
      if (!before.enabled) {
        std::printf("the response cache is off; nothing to clear\n");
        return;
      }
      runtime->clear_cache();
      std::printf("cleared %llu disk entries\n", static_cast<unsigned long long>(before.disk.entries));
      return;
    }
    json r = call_server(flags->server, url, "/v1/runtime/cache/clear", json::object());
    std::printf("cleared the response cache of %s\n", url.c_str());
    (void)r;
  });
}

}  // namespace

XERVO_CLI_COMMAND(13, setup_cache);

}  // namespace xervo::cli
