// `xervo serve`: the OpenAI-compatible HTTP server over the config's aliases (plus demo models with
// --demo), until SIGINT or SIGTERM ends it gracefully. SIGHUP reads the config file again and applies
// it as POST /v1/runtime/reload does. `xervo serve hash-key` prints the sha256 line an API key needs
// in [server.auth].
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <stop_token>
#include <thread>

#include "cli/access_paths.h"
#include "cli/command.h"
#include "cluster/cluster.h"
#include "core/cache_tier.h"
#include "core/log.h"
#include "server/audit_log.h"
#include "server/auth.h"
#include "server/config_reload.h"
#include "server/demo.h"
#include "server/runtime_json.h"
#include "xervo/providers.h"
#include "xervo/server.h"
#if XERVO_HAVE_LIBRARY
#include "xervo/library.h"
#endif

namespace xervo::cli {
namespace {

struct ServeFlags {
  std::string host;
  int port = -1;
  int threads = 0;
  std::string key;
  bool generate_key = false;
};

void hash_key(const ServeFlags& flags) {
  std::string key = flags.key;
  if (flags.generate_key) {
    key = server::generate_api_key();
    if (key.empty()) throw Exception(Error(ErrorCode::internal, "no randomness available to generate a key"));
    std::printf("key:    %s\n", key.c_str());
  } else if (key.empty() || key == "-") {
    // From stdin, so the key stays out of shell history and `ps`.
    std::getline(std::cin, key);
    while (!key.empty() && (key.back() == '\r' || key.back() == '\n')) key.pop_back();
  }
  if (key.empty())
    throw Exception(
        Error(ErrorCode::invalid_input, "no key given: pass KEY, pipe it on stdin, or use --generate"));
  std::printf("sha256 = \"%s\"\n", sha256_hex(key).c_str());
  std::printf(
      "# in xervo.toml:\n# [server.auth]\n# keys = [{ name = \"app\", sha256 = \"%s\", scopes = "
      "[\"inference\"] }]\n",
      sha256_hex(key).c_str());
}

ServerOptions server_options(const Config& config, const ServeFlags& flags) {
  ServerOptions options = parse_server_options(config.server).value_or_throw();
  options.telemetry = parse_telemetry_options(config.telemetry).value_or_throw();  // [telemetry] + OTEL_*
  if (const char* h = std::getenv("XERVO_HOST"); h && *h) options.host = h;
  if (const char* p = std::getenv("XERVO_PORT"); p && *p) {
    char* end = nullptr;
    long port = std::strtol(p, &end, 10);
    if (*end || port < 0 || port > 65535)
      throw Exception(
          Error(ErrorCode::config_invalid, std::string("XERVO_PORT='") + p + "' is not a port number"));
    options.port = static_cast<int>(port);
  }
  if (!flags.host.empty()) options.host = flags.host;
  if (flags.port >= 0) options.port = flags.port;
  if (flags.threads > 0) options.threads = flags.threads;
  return options;
}

// The config as serve reads it: the file it started with (found once, at start), plus the demo aliases.
server::ConfigLoader config_loader(const GlobalOptions& globals, std::shared_ptr<ModelLibrary> library) {
  return [path = find_config_file(globals.config_path), demo = globals.demo, library]() -> Result<Config> {
    try {
      Config config = path.empty() ? Config{} : load_config_file(path).value_or_throw();
      if (demo) add_demo_models(config, library);
      return config;
    } catch (const Exception& e) {
      return e.error();
    }
  };
}

// SIGHUP: one reload at a time on its own thread, so that a reload waiting for a model load never
// delays a SIGTERM. The destructor cancels a reload still running and waits for it.
class SighupReloader {
 public:
  SighupReloader(std::shared_ptr<ModelRuntime> runtime, std::chrono::seconds bound, const AuditOptions& audit)
      : runtime_(std::move(runtime)), bound_(bound), audit_(audit) {}
  ~SighupReloader() {
    stop_.request_stop();
    std::thread worker;
    {
      std::lock_guard lock(mu_);  // not held while joining: the worker takes it as it ends
      worker = std::move(worker_);
    }
    if (worker.joinable()) worker.join();
  }

  void trigger() {
    std::lock_guard lock(mu_);
    if (running_) {
      spdlog::warn("SIGHUP: a config reload is still running; this one is ignored");
      return;
    }
    if (worker_.joinable()) worker_.join();
    running_ = true;
    worker_ = std::thread([this] {
      ChangeOptions options;
      options.by = "SIGHUP";
      options.bounds.cancel = stop_.get_token();
      options.bounds.deadline = std::chrono::steady_clock::now() + bound_;
      auto report = server::reload_runtime(*runtime_, options);
      if (report.ok())
        spdlog::info(
            "SIGHUP: config reloaded: {}",
            server::reload_json(*report).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      else
        spdlog::error("SIGHUP: config reload failed: {}", report.error().to_string());
      {
        std::lock_guard done(mu_);
        running_ = false;  // first: a SIGHUP that comes while the record is written is served
      }
      (void)audit_.record(
          "config_reload",
          {{"actor", "SIGHUP"}, {"ok", report.ok()}, {"error", report.ok() ? "" : report.error().message()}});
    });
  }

 private:
  std::shared_ptr<ModelRuntime> runtime_;
  std::chrono::seconds bound_;
  server::AuditLog audit_;
  std::stop_source stop_;
  std::mutex mu_;
  std::thread worker_;    // GUARDED_BY(mu_)
  bool running_ = false;  // GUARDED_BY(mu_)
};

// The Batch API's files and jobs: XERVO_HOME/batches (the library's home when it has one).
std::filesystem::path batch_dir_default(const std::shared_ptr<ModelLibrary>& library) {
  std::filesystem::path home = default_home();
#if XERVO_HAVE_LIBRARY
  if (library && !library->options().home.empty()) home = library->options().home;
#else
  (void)library;
#endif
  return home.empty() ? home : home / "batches";
}

void serve(const GlobalOptions& globals, const ServeFlags& flags) {
  // Signals go to the sigwait() below, never to a worker thread: block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigset_t signals = stop_signals;
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Config config = load_config_file_of(globals);
  ServerOptions options = server_options(config, flags);
  // The library serves the /v1/library routes and holds the demo models; one that cannot open
  // costs only those: the server still serves the config's models.
  options.library = open_library_or_null(config);
  if (options.batch_dir.empty()) options.batch_dir = batch_dir_default(options.library);
  fill_access_defaults(options);  // XERVO_HOME/keys.json (`xervo keys`) and XERVO_HOME/audit.log
  if (globals.demo) add_demo_models(config, options.library);
  // [cluster]: state shared with the other replicas; the cache tier must be in place before the
  // runtime builds its response cache.
  if (auto cluster_options = cluster::parse_cluster_options(config.cluster).value_or_throw()) {
    options.cluster = cluster::Cluster::create(std::move(*cluster_options)).value_or_throw();
    if (options.cluster->cache_tier()) install_shared_cache_tier(options.cluster->cache_tier());
    spdlog::info("cluster: replica {} sharing state through Redis ({})", options.cluster->replica_id(),
                 options.cluster->redis_up() ? "up" : "unreachable for now");
  }
  auto runtime = build_runtime(config);
  server::ReloadRegistration reload_source(*runtime, config_loader(globals, options.library), config.server);

  auto server = Server::start(runtime, options).value_or_throw();
  std::string base = "http://" +
                     (options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host) +
                     ":" + std::to_string(server->port());
  std::printf("xervo serve: listening on %s\n", base.c_str());
  std::printf("dashboard: %s/ (docs/server/dashboard.md)\n", base.c_str());
  if (globals.demo)
    std::printf("demo aliases: embed/default, rerank/default, chat/default. Try:\n%s",
                server::demo_curl_lines(base, options.keys.empty() ? "" : "YOUR_KEY").c_str());
  std::fflush(stdout);

  int sig = 0;
  {
    SighupReloader reloader(runtime, options.request_timeout, options.audit);
    for (sigwait(&signals, &sig); sig == SIGHUP; sigwait(&signals, &sig)) reloader.trigger();
  }
  spdlog::info("{} received: stopping (grace {} s)", sig == SIGINT ? "SIGINT" : "SIGTERM",
               options.shutdown_grace.count());
  // A second signal while draining means "now": leave without waiting for the grace period.
  std::thread([stop_signals] {
    int again = 0;
    sigwait(&stop_signals, &again);
    std::fprintf(stderr, "xervo serve: second signal, exiting without waiting for requests in flight\n");
    std::_Exit(1);
  }).detach();
  server->stop();
}

void setup_serve(CLI::App& app, GlobalOptions& globals) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand("serve", "Serve the OpenAI-compatible HTTP API over the configured models");
  cmd->add_option("--host", flags->host,
                  "address to bind (default 127.0.0.1; env XERVO_HOST; [server] host)");
  cmd->add_option("--port", flags->port,
                  "port (default 8080; 0 = any free port; env XERVO_PORT; [server] port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--threads", flags->threads, "HTTP worker threads (default 32; [server] threads)")
      ->check(CLI::Range(1, 4096));
  add_demo_flag(cmd, globals);
  auto* hash = cmd->add_subcommand("hash-key", "Print the sha256 of an API key for [server.auth] keys");
  hash->add_option("key", flags->key, "the key; read from stdin when omitted or '-'");
  hash->add_flag("--generate", flags->generate_key, "generate a new random key and print it with its hash");
  hash->callback([flags] { hash_key(*flags); });
  cmd->callback([&globals, flags, hash] {
    if (hash->parsed()) return;
    serve(globals, *flags);
  });
}

}  // namespace

XERVO_CLI_COMMAND(50, setup_serve);

}  // namespace xervo::cli
