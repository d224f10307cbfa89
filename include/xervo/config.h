// The xervo.toml configuration: model aliases, provider settings, and sections owned by other
// front doors (server, library), kept as JSON for them to read. Parsing is pure: no provider is
// created and no file but the config itself is read.
//
//   [providers.openai]            # settings for one provider, handed to it as JSON
//   base_url = "http://127.0.0.1:8081"
//
//   [models."embed/fast"]         # one alias
//   task = "embed"                # embed | rerank | generate
//   provider = "llamacpp"
//   model = "/models/bge-small.gguf"
//   warmup = "eager"              # lazy (default) | eager | background
//   fallbacks = ["embed/remote"]
//   options = { context_size = 512, threads = 2 }
//   pin = true                    # never evicted nor expired
//   keep_alive = "10m"            # after the last use; -1 forever, 0 right after ([runtime] default)
//
//   [runtime]                     # lifecycle limits (RuntimeLimits)
//   memory_budget = "75%"         # bytes, "12GiB", or a share of physical memory
//   max_loaded = 0                # models at once; 0: no limit
//
//   [cache]                       # the response cache (CacheOptions, docs/cache.md)
//   enabled = true                # off by default
//   memory = "256MiB"             # memory tier; disk = "2GiB" (0: none), ttl = "168h", dir = "..."
//
//   [telemetry]                   # OpenTelemetry traces over OTLP/HTTP (xervo/telemetry.h)
//   endpoint = "http://127.0.0.1:4318"   # off by default; OTEL_* variables override
//
//   [cluster]                     # replicas sharing limits, cache, batches (docs/server/scale-out.md)
//   redis_url = "redis://127.0.0.1:6379"  # off by default
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"
#include "xervo/model_spec.h"

namespace xervo {

struct Config {
  std::filesystem::path path;                           // where it was read from; empty for text
  std::vector<ModelSpec> models;                        // in file order
  nlohmann::json providers = nlohmann::json::object();  // [providers.ID] tables
  nlohmann::json server = nlohmann::json::object();     // [server]
  nlohmann::json library = nlohmann::json::object();    // [library]
  nlohmann::json runtime = nlohmann::json::object();    // [runtime]: memory_budget, max_loaded, keep_alive
  nlohmann::json cache = nlohmann::json::object();      // [cache]: the response cache (CacheOptions)
  nlohmann::json telemetry = nlohmann::json::object();  // [telemetry]: traces (TelemetryOptions)
  nlohmann::json cluster = nlohmann::json::object();    // [cluster]: shared state of replicas (Redis)
  // "file:line" of every key, by its dotted path as errors print it: "providers.openai.base_url",
  // "models.\"embed/x\".options.threads". Lets whoever validates a section name the line.
  std::map<std::string, std::string> locations;

  // "file:line" of `key_path`; the file name alone (or "" for text without one) when unknown.
  std::string where(std::string_view key_path) const;
};

// Errors name the file, the line and the key: "xervo.toml:12: models."embed/x".task: ...".
Result<Config> parse_config(std::string_view toml_text, std::string_view source_name = "xervo.toml");
Result<Config> load_config_file(const std::filesystem::path& path);
struct RuntimeLimits;

// [runtime] of the config over default_runtime_limits(); config_invalid naming file:line and key.
//   memory_budget = "12GiB" | "75%" | 12884901888     max_loaded = 4
//   keep_alive = "5m" | "30s" | 0 | -1 (seconds, or a duration; -1 forever)   adhoc_keep_alive = "5m"
Result<RuntimeLimits> parse_runtime_limits(const Config& config);
// The limits without a [runtime]: a budget of 75% of physical memory, no count limit, aliases kept
// until evicted, ad-hoc ids for 5 minutes after their last use.
RuntimeLimits default_runtime_limits();
// "12GiB", "512MB", "75%" (of `physical`), or a byte count. invalid_input saying what is accepted.
Result<uint64_t> parse_memory_size(const nlohmann::json& value, uint64_t physical);
// Ollama's keep_alive: a number of seconds or a duration string ("5m", "1h30m", "250ms", "-1");
// negative means forever.
Result<std::chrono::milliseconds> parse_keep_alive(const nlohmann::json& value);
struct CacheOptions;
// [cache] of the config: enabled, memory, disk (sizes as memory_budget takes them, 0 for none), ttl
// (a duration), dir. config_invalid naming file:line and key. The disk folder defaults to
// XERVO_HOME/cache (no disk tier when no home is known).
Result<CacheOptions> parse_cache_options(const Config& config);
// Physical memory of this machine (sysconf), in bytes.
uint64_t physical_memory_bytes();

// --config, else $XERVO_CONFIG, else ./xervo.toml if it exists; empty when none.
std::filesystem::path find_config_file(const std::filesystem::path& flag_value = {});

// The one resolution of XERVO_HOME (models, models.db, cache, demo models): $XERVO_HOME when set and
// not empty, else $HOME/.local/share/xervo; empty when neither variable is set (callers report that
// as config_invalid, "set XERVO_HOME"). Reads the environment on every call; nothing is created.
std::filesystem::path default_home();

}  // namespace xervo
