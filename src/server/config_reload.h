// Config reload of a served runtime: where its xervo.toml comes from (registered by whoever built the
// runtime from one: `xervo serve`, which adds its --demo aliases again on each read), and the one
// reload that POST /v1/runtime/reload and SIGHUP share. A reload that cannot read the file, finds
// [server] invalid, or whose config the runtime refuses changes nothing and returns that error.
// Thread-safe: a mutex guards the registry, and the reloads of one runtime run one at a time.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "xervo/config.h"
#include "xervo/runtime.h"

namespace xervo::server {

// Reads the config again (the file, plus whatever the caller adds to it at start).
using ConfigLoader = std::function<Result<Config>()>;

// Registers `loader` as the config source of `runtime` for as long as it lives. `server_section` is
// the [server] table the server runs with: a reload whose [server] differs says a restart applies it.
class ReloadRegistration {
 public:
  ReloadRegistration(const ModelRuntime& runtime, ConfigLoader loader, nlohmann::json server_section);
  ~ReloadRegistration();
  ReloadRegistration(const ReloadRegistration&) = delete;
  ReloadRegistration& operator=(const ReloadRegistration&) = delete;

 private:
  const ModelRuntime* runtime_;
};

// Reads the registered config of `runtime` and applies it (ModelRuntime::reload). config_invalid when
// nothing is registered (the server was not started from a config file).
Result<ReloadReport> reload_runtime(ModelRuntime& runtime, const ChangeOptions& options);

}  // namespace xervo::server
