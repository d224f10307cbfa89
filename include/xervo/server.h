// The HTTP front door: an OpenAI-compatible API (models, embeddings, chat and text completions,
// rerank) plus management, health and Prometheus routes over one ModelRuntime. A Server runs on
// its own threads once started; start, stop and the accessors are safe from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/access.h"
#include "xervo/error.h"
#include "xervo/runtime.h"
#include "xervo/telemetry.h"

namespace xervo {

class ModelLibrary;  // xervo/library.h
namespace cluster {
class Cluster;  // src/cluster/cluster.h: [cluster], the state replicas share
}

// Which model ids a request may name beyond the configured aliases and the models of the library
// (those are always allowed). Everything is off by default, so an HTTP client cannot make the server
// open a file, download from the Hub or spend a remote provider's key on a model nobody configured.
// Refused ids get the same 404 as an unknown alias, whatever exists on disk.
struct ModelIdAllowance {
  // Local model files under these absolute folders: the path a client sends must be absolute, hold no
  // "..", lie under a folder and, with every symlink resolved, still lie under that folder's real path.
  std::vector<std::filesystem::path> paths;
  // "hf:ORG/REPO" ids that are not in the library yet (a Hub download where the provider's pull is on).
  bool hf = false;
  // "PROVIDER:MODEL" ids of these providers ("openai", "gemini"): forwarded with the operator's key.
  // Local providers ("llamacpp") are not listed here: their ids are checked like paths.
  std::vector<std::string> providers;
};

// One API key, stored only as the hex sha256 of the key itself (`xervo serve hash-key KEY`).
struct ApiKey {
  std::string name;                  // shows in logs and metrics, never the key
  std::string sha256;                // 64 lowercase hex digits
  std::vector<std::string> scopes;   // AccessRole::scopes' names; may be empty when roles are given
  int64_t requests_per_minute = -1;  // -1: ServerOptions::requests_per_minute; 0: unlimited
  int64_t tokens_per_minute = -1;    // -1: ServerOptions::tokens_per_minute; 0: unlimited
  // This key's own allowance; unset: ServerOptions::admin_allow_model_ids for admin keys, else
  // ServerOptions::allow_model_ids.
  std::optional<ModelIdAllowance> allow_model_ids;
  std::vector<std::string> roles;      // names of ServerOptions::roles this key holds
  std::vector<std::string> allow_ips;  // CIDRs the key may be used from; empty: anywhere
};

// [server.websocket]: bounds of the WebSocket endpoint GET /v1/ws (docs/server/websocket.md). Its
// connections also count against max_connections and max_connections_per_client.
struct WebSocketOptions {
  size_t max_message_bytes = 1u << 20;     // one client message; larger: the connection closes with 1009
  int max_requests = 8;                    // generations running at once on one connection; more: error
  size_t max_send_queue_bytes = 4u << 20;  // queued for a client that does not read; beyond: closed
  std::chrono::seconds ping_interval{30};  // ping a silent client this often; silent for two: closed
  std::chrono::seconds idle_timeout{300};  // no message and no generation running for this long: closed
};

struct ServerOptions {
  std::string host = "127.0.0.1";  // address to bind; anything but loopback without keys is warned about
  int port = 8080;                 // 0 picks a free port (see Server::port())
  bool reuse_port = false;         // share the port with other processes (SO_REUSEPORT); else in use = error
  int threads = 32;    // worker threads: each request being handled holds one (idle connections none)
  int io_threads = 1;  // threads that own the sockets and parse HTTP
  size_t max_body_bytes = 8u << 20;     // larger request bodies get 413, judged on the declared length first
  size_t max_header_bytes = 16 * 1024;  // request line + headers; larger: 431
  size_t max_headers = 100;             // header fields per request; more: 431
  std::chrono::seconds header_timeout{10};     // first byte to the end of the headers (slowloris); then 408
  std::chrono::seconds keep_alive_timeout{5};  // an idle keep-alive connection is closed after this
  std::chrono::seconds read_timeout{30};       // the whole request body must arrive within this; then 408
  std::chrono::seconds write_timeout{60};      // one write to a client that does not read; then closed
  size_t max_connections = 16384;              // open connections in total; beyond: 503 and close
  size_t max_connections_per_client = 256;     // open connections per client address (0: no cap)
  std::chrono::seconds request_timeout{300};   // generation is cancelled after this (504)
  int max_queue_per_model = 64;           // requests admitted per model at once (running or queued); then 503
  size_t max_inputs = 2048;               // inputs per embeddings request, documents per rerank request
  int max_tokens = 4096;                  // the largest max_tokens a request may ask for
  int default_max_tokens = 256;           // max_tokens when a request gives none
  std::vector<ApiKey> keys;               // none here, in keys_file, nor jwt: no authentication
  int64_t requests_per_minute = 0;        // per key (per client address without keys); 0 = unlimited
  int64_t tokens_per_minute = 0;          // prompt + completion tokens per key per minute; 0 = unlimited
  std::vector<std::string> cors_origins;  // allowed browser origins; "*" allows any
  std::chrono::seconds shutdown_grace{30};  // stop() waits this long for in-flight requests, then cancels
  bool unload_models_on_stop = true;        // stop() unloads every model of the runtime at the end
  bool access_log = true;                   // one info line per request
  ModelIdAllowance allow_model_ids;         // ids beyond aliases and library models, for every request
  // For keys with the admin scope (unset: allow_model_ids); a key's own allow_model_ids wins over both.
  std::optional<ModelIdAllowance> admin_allow_model_ids;
  WebSocketOptions websocket;
  // Access control (xervo/access.h, docs/server/access.md): [server.auth.roles.NAME], [server.auth.jwt],
  // [server.auth] keys_file (keys `xervo keys create` writes, re-read when it changes), the proxies
  // whose X-Forwarded-For is believed, and [server.audit].
  std::vector<AccessRole> roles;
  JwtOptions jwt;
  std::filesystem::path keys_file;
  std::vector<std::string> trusted_proxies;  // CIDRs; empty: X-Forwarded-For is never read
  AuditOptions audit;
  // OpenTelemetry traces (the config's [telemetry] and OTEL_* variables: parse_telemetry_options()).
  TelemetryOptions telemetry;
  // Serves GET /v1/library/search and /v1/library/models/{id} (admin scope) when set and the build has
  // the model library, and is where requests' "library:ID" (and already pulled "hf:") ids are looked up:
  // without it those ids are refused. Not read from [server] (xervo serve opens the library of [library]).
  std::shared_ptr<ModelLibrary> library;

  // The Batch API (/v1/files, /v1/batches; docs/server/batch.md). Its files and job state live here
  // (xervo serve: XERVO_HOME/batches unless [server] batch_dir says otherwise); empty: those routes
  // answer 503 and no batch runs.
  std::filesystem::path batch_dir;
  size_t max_upload_bytes = 100u << 20;  // POST /v1/files bodies (instead of max_body_bytes); larger: 413
  size_t max_batch_lines = 50000;        // requests per batch input file; more: the batch fails
  size_t max_files = 10000;              // files kept under batch_dir (inputs and results); more: 400
  int batch_concurrency = 1;             // batch lines running at once, all batches together
  int batch_max_attempts = 3;            // tries of a line that fails with 429 or 5xx, then the error file
  std::chrono::milliseconds batch_retry_backoff{1000};  // first retry's wait; doubles each try

  // Replicas behind one load balancer (docs/server/scale-out.md): rate limits, the Batch API's leases
  // and revoked keys shared through Redis. Not read from [server] (xervo serve builds it from
  // [cluster]); null: this process alone.
  std::shared_ptr<cluster::Cluster> cluster;
};

// Reads the config's [server] table (Config::server): every key of ServerOptions by the same name,
// durations in seconds ("request_timeout_s"), [server.auth] keys = [{name, sha256, scopes, ...}], and
// allow_model_ids / admin_allow_model_ids = {paths, hf, providers} (also per key).
// Unknown keys and wrong types are config_invalid naming the key.
Result<ServerOptions> parse_server_options(const nlohmann::json& server_section);

// Lowercase hex sha256 of `text`: what ApiKey::sha256 holds for the key `text`.
std::string sha256_hex(std::string_view text);

class Server {
 public:
  // Binds and starts serving on background threads; fails (unavailable) when the address is taken,
  // or (config_invalid) when the options are inconsistent.
  static Result<std::unique_ptr<Server>> start(std::shared_ptr<ModelRuntime> runtime, ServerOptions options);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;  // the bound port
  const ServerOptions& options() const;

  // Graceful shutdown: stops accepting, lets in-flight requests finish for up to shutdown_grace,
  // cancels the generations still running, then unloads models (unload_models_on_stop).
  // Idempotent; returns when every worker thread has ended.
  void stop();
  // Blocks until stop() has completed (from another thread or a signal handler's helper).
  void wait();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace xervo
