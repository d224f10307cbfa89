#include "server/config_reload.h"

#include <map>
#include <mutex>

#include "xervo/server.h"

namespace xervo::server {
namespace {

struct Source {
  ConfigLoader loader;
  nlohmann::json server_section;
  std::mutex reloading;  // one reload of a runtime at a time (SIGHUP and the route may race)
};

struct Registry {
  std::mutex mu;
  std::map<const ModelRuntime*, std::shared_ptr<Source>> sources;  // GUARDED_BY(mu)
};

Registry& registry() {
  static Registry r;
  return r;
}

std::shared_ptr<Source> source_of(const ModelRuntime& runtime) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.sources.find(&runtime);
  return it == r.sources.end() ? nullptr : it->second;
}

}  // namespace

ReloadRegistration::ReloadRegistration(const ModelRuntime& runtime, ConfigLoader loader,
                                       nlohmann::json server_section)
    : runtime_(&runtime) {
  auto source = std::make_shared<Source>();
  source->loader = std::move(loader);
  source->server_section = std::move(server_section);
  auto& r = registry();
  std::lock_guard lock(r.mu);
  r.sources[runtime_] = std::move(source);
}

ReloadRegistration::~ReloadRegistration() {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  r.sources.erase(runtime_);
}

Result<ReloadReport> reload_runtime(ModelRuntime& runtime, const ChangeOptions& options) {
  auto source = source_of(runtime);
  if (!source)
    return Error(ErrorCode::config_invalid,
                 "this server has no config file to reload (it was started by an application, not by "
                 "`xervo serve`)");
  std::lock_guard one_at_a_time(source->reloading);
  auto config = source->loader();
  if (!config.ok()) return config.error();
  // [server] is read once at start, but a broken one would stop the next start: refuse it now.
  if (auto server = parse_server_options(config->server); !server.ok())
    return Error(ErrorCode::config_invalid, config->where("server") + ": " + server.error().message());
  auto report = runtime.reload(*config, options);
  if (!report.ok()) return report.error();
  if (config->server != source->server_section)
    report->notes.push_back(
        "[server] changed: the listener, keys and limits are read at start; restart xervo serve to apply it");
  return report;
}

}  // namespace xervo::server
