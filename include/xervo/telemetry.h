// Telemetry settings of the server: OpenTelemetry traces exported over OTLP/HTTP (JSON or protobuf encoding)
// to a collector, from the config's [telemetry] table and the standard OTEL_* environment variables
// (docs/server/telemetry.md). Off by default. Plain values; parsing is pure.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "xervo/error.h"

namespace xervo {

struct TelemetryOptions {
  bool enabled = false;                // spans are exported (on when an endpoint is set, unless turned off)
  std::string traces_endpoint;         // the full URL spans are POSTed to: "http://127.0.0.1:4318/v1/traces"
  std::string protocol = "http/json";  // or "http/protobuf" (the body's encoding)
  std::vector<std::pair<std::string, std::string>> headers;  // sent with every export (a collector's token)
  std::string service_name = "xervo";                        // resource attribute service.name
  std::vector<std::pair<std::string, std::string>> resource_attributes;  // more resource attributes
  // always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off,
  // parentbased_traceidratio (OpenTelemetry's names). parentbased_*: a client's sampled flag decides.
  std::string sampler = "parentbased_always_on";
  double sampler_ratio = 1.0;  // traceidratio: share of traces kept, 0..1
  size_t batch_size = 512;     // spans per export request
  size_t queue_size = 2048;    // spans waiting for export; beyond, new spans are dropped and counted
  std::chrono::milliseconds export_interval{5000};  // longest wait before a partial batch goes out
  std::chrono::milliseconds export_timeout{10000};  // one export request, connection included
};

// Reads one environment variable; nullptr when unset. Tests pass their own.
using EnvLookup = std::function<const char*(const char*)>;

// [telemetry] (Config::telemetry) with the OTEL_* variables over it: OTEL_SDK_DISABLED,
// OTEL_TRACES_EXPORTER (otlp | none), OTEL_EXPORTER_OTLP_ENDPOINT (+ "/v1/traces"),
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (as is), OTEL_EXPORTER_OTLP_[TRACES_]HEADERS,
// OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT, OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL (http/json or http/protobuf;
// grpc is refused), OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG and OTEL_BSP_{SCHEDULE_DELAY, EXPORT_TIMEOUT,
// MAX_QUEUE_SIZE, MAX_EXPORT_BATCH_SIZE}. config_invalid naming the key or variable and what it takes.
Result<TelemetryOptions> parse_telemetry_options(const nlohmann::json& section, const EnvLookup& env);
Result<TelemetryOptions> parse_telemetry_options(const nlohmann::json& section);  // the process environment

}  // namespace xervo
