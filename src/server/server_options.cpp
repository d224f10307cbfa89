// [server] of xervo.toml -> ServerOptions. Strict: an unknown key or a wrong type is an error that
// names the key, so a typo never silently leaves a limit or the authentication off.
#include <set>

#include "server/auth_options.h"
#include "server/model_policy.h"
#include "server/websocket_routes.h"
#include "xervo/server.h"
#include "core/option_fields.h"

namespace xervo {
namespace {

const options::Section kSection{"[server] "};

Result<std::vector<std::string>> get_strings(const nlohmann::json& v, const std::string& key) {
  if (!v.is_array()) return kSection.invalid(key, "must be an array of strings");
  std::vector<std::string> out;
  for (const auto& s : v) {
    if (!s.is_string()) return kSection.invalid(key, "must be an array of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

}  // namespace

Result<ServerOptions> parse_server_options(const nlohmann::json& section) {
  ServerOptions o;
  if (section.is_null()) return o;
  if (!section.is_object()) return Error(ErrorCode::config_invalid, "[server] must be a table");
  for (const auto& [key, v] : section.items()) {
    auto seconds = [&](std::chrono::seconds& field, int64_t max) -> Result<void> {
      auto n = kSection.integer(v, key, 1, max);
      if (!n.ok()) return n.error();
      field = std::chrono::seconds(*n);
      return {};
    };
    Result<void> r;
    if (key == "host") {
      if (!v.is_string() || v.get<std::string>().empty()) return kSection.invalid(key, "must be a non-empty string");
      o.host = v.get<std::string>();
    } else if (key == "port") {
      auto n = kSection.integer(v, key, 0, 65535);
      if (!n.ok()) return n.error();
      o.port = static_cast<int>(*n);
    } else if (key == "threads" || key == "io_threads") {
      auto n = kSection.integer(v, key, 1, 4096);
      if (!n.ok()) return n.error();
      (key == "threads" ? o.threads : o.io_threads) = static_cast<int>(*n);
    } else if (key == "max_header_bytes") {
      auto n = kSection.integer(v, key, 1024, 1 << 20);
      if (!n.ok()) return n.error();
      o.max_header_bytes = static_cast<size_t>(*n);
    } else if (key == "max_headers") {
      auto n = kSection.integer(v, key, 8, 10000);
      if (!n.ok()) return n.error();
      o.max_headers = static_cast<size_t>(*n);
    } else if (key == "max_connections" || key == "max_connections_per_client") {
      auto n = kSection.integer(v, key, key == "max_connections" ? 1 : 0, 1 << 22);
      if (!n.ok()) return n.error();
      (key == "max_connections" ? o.max_connections : o.max_connections_per_client) = static_cast<size_t>(*n);
    } else if (key == "header_timeout_s") {
      r = seconds(o.header_timeout, 3600);
    } else if (key == "keep_alive_timeout_s") {
      r = seconds(o.keep_alive_timeout, 86400);
    } else if (key == "max_body_bytes") {
      auto n = kSection.integer(v, key, 1024, int64_t{1} << 34);
      if (!n.ok()) return n.error();
      o.max_body_bytes = static_cast<size_t>(*n);
    } else if (key == "read_timeout_s") {
      r = seconds(o.read_timeout, 3600);
    } else if (key == "write_timeout_s") {
      r = seconds(o.write_timeout, 3600);
    } else if (key == "request_timeout_s") {
      r = seconds(o.request_timeout, 86400);
    } else if (key == "shutdown_grace_s") {
      auto n = kSection.integer(v, key, 0, 3600);
      if (!n.ok()) return n.error();
      o.shutdown_grace = std::chrono::seconds(*n);
    } else if (key == "max_queue_per_model") {
      auto n = kSection.integer(v, key, 0, 1000000);
      if (!n.ok()) return n.error();
      o.max_queue_per_model = static_cast<int>(*n);
    } else if (key == "max_inputs") {
      auto n = kSection.integer(v, key, 1, 1000000);
      if (!n.ok()) return n.error();
      o.max_inputs = static_cast<size_t>(*n);
    } else if (key == "max_tokens" || key == "default_max_tokens") {
      auto n = kSection.integer(v, key, 1, 1 << 24);
      if (!n.ok()) return n.error();
      (key == "max_tokens" ? o.max_tokens : o.default_max_tokens) = static_cast<int>(*n);
    } else if (key == "requests_per_minute" || key == "tokens_per_minute") {
      auto n = kSection.integer(v, key, 0, INT64_MAX);
      if (!n.ok()) return n.error();
      (key == "requests_per_minute" ? o.requests_per_minute : o.tokens_per_minute) = *n;
    } else if (key == "cors_origins") {
      auto s = get_strings(v, key);
      if (!s.ok()) return s.error();
      o.cors_origins = *s;
    } else if (key == "unload_models_on_stop" || key == "access_log" || key == "reuse_port") {
      if (!v.is_boolean()) return kSection.invalid(key, "must be true or false");
      (key == "access_log"   ? o.access_log
       : key == "reuse_port" ? o.reuse_port
                             : o.unload_models_on_stop) = v.get<bool>();
    } else if (key == "allow_model_ids" || key == "admin_allow_model_ids") {
      auto allowance = server::parse_model_id_allowance(v, key);
      if (!allowance.ok()) return allowance.error();
      if (key == "allow_model_ids")
        o.allow_model_ids = std::move(*allowance);
      else
        o.admin_allow_model_ids = std::move(*allowance);
    } else if (key == "batch_dir") {
      if (!v.is_string() || v.get<std::string>().empty()) return kSection.invalid(key, "must be a non-empty path");
      o.batch_dir = v.get<std::string>();
    } else if (key == "max_upload_bytes") {
      auto n = kSection.integer(v, key, 1024, int64_t{1} << 34);
      if (!n.ok()) return n.error();
      o.max_upload_bytes = static_cast<size_t>(*n);
    } else if (key == "max_batch_lines" || key == "max_files") {
      auto n = kSection.integer(v, key, 1, 10000000);
      if (!n.ok()) return n.error();
      (key == "max_files" ? o.max_files : o.max_batch_lines) = static_cast<size_t>(*n);
    } else if (key == "batch_concurrency" || key == "batch_max_attempts") {
      auto n = kSection.integer(v, key, 1, 1024);
      if (!n.ok()) return n.error();
      (key == "batch_concurrency" ? o.batch_concurrency : o.batch_max_attempts) = static_cast<int>(*n);
    } else if (key == "batch_retry_backoff_ms") {
      auto n = kSection.integer(v, key, 1, 3600000);
      if (!n.ok()) return n.error();
      o.batch_retry_backoff = std::chrono::milliseconds(*n);
    } else if (key == "websocket") {
      auto ws = server::parse_websocket_options(v);
      if (!ws.ok()) return ws.error();
      o.websocket = *ws;
    } else if (key == "auth") {
      r = server::parse_auth_section(v, o);
    } else if (key == "audit") {
      r = server::parse_audit_section(v, o);
    } else if (key == "trusted_proxies") {
      auto s = get_strings(v, key);
      if (!s.ok()) return s.error();
      o.trusted_proxies = *s;
    } else {
      return kSection.invalid(key,
                     "unknown key (expected host, port, reuse_port, threads, io_threads, max_body_bytes, "
                     "max_header_bytes, max_headers, header_timeout_s, keep_alive_timeout_s, read_timeout_s, "
                     "write_timeout_s, max_connections, max_connections_per_client, request_timeout_s, "
                     "shutdown_grace_s, max_queue_per_model, max_inputs, max_tokens, default_max_tokens, "
                     "requests_per_minute, tokens_per_minute, cors_origins, access_log, "
                     "unload_models_on_stop, allow_model_ids, admin_allow_model_ids, batch_dir, "
                     "max_upload_bytes, max_batch_lines, max_files, batch_concurrency, batch_max_attempts, "
                     "batch_retry_backoff_ms, websocket, auth, audit, trusted_proxies)");
    }
    if (!r.ok()) return r.error();
  }
  if (auto access = server::validate_access(o); !access.ok()) return access.error();
  if (o.default_max_tokens > o.max_tokens)
    return kSection.invalid("default_max_tokens", "is larger than max_tokens (" + std::to_string(o.max_tokens) + ")");
  return o;
}

}  // namespace xervo
