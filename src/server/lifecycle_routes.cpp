// Lifecycle management routes (admin scope, see classify() in server.cpp): POST
// /v1/runtime/models/pin, /unpin, /keep_alive, /swap, /rollback and POST /v1/runtime/reload. Each
// parses, checks what the request may name, calls the runtime and formats; what may be evicted and
// how a swap drains is the runtime's policy. Every change is logged with who made it.
#include <algorithm>

#include "core/log.h"
#include "server/config_reload.h"
#include "server/json_fields.h"
#include "server/model_policy.h"
#include "server/runtime_json.h"
#include "server/server_state.h"

namespace xervo::server {
namespace {

constexpr size_t kMaxRevisionBytes = 256;

void check(Result<void> result) {
  if (!result.ok()) throw Rejection(result.error());
}

// Who made a change, for the alias history and the log: the key's name, else the client's address.
std::string change_author() {
  const std::string& client = current_request().client;
  return client.starts_with("key:") ? client.substr(4) : client;
}

ChangeOptions change_options(const CancellationTracker::Handle& cancel) {
  ChangeOptions options;
  options.by = change_author();
  options.bounds = bounds(cancel);
  return options;
}

void log_change(const std::string& what) {
  spdlog::info("[{}] {} (by \"{}\")", current_request().request_id, what, log_escape(change_author()));
}

void pin(ServerState& state, const HttpRequest& req, HttpResponse& res, bool pinned) {
  current_request().route = pinned ? "/v1/runtime/models/pin" : "/v1/runtime/models/unpin";
  auto body = parse_json_object(req.body);
  std::string model = require_string(body, "model");
  current_request().model = model;
  check(state.runtime->pin(model, pinned));
  log_change(std::string(pinned ? "pinned" : "unpinned") + " \"" + log_escape(model) + "\"");
  send_json(res, 200, {{"model", model}, {"pinned", pinned}});
}

void keep_alive(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  current_request().route = "/v1/runtime/models/keep_alive";
  auto body = parse_json_object(req.body);
  std::string model = require_string(body, "model");
  auto duration = optional_keep_alive(body);
  if (!duration)
    reject_input(
        "'keep_alive' is required: seconds, a duration such as \"5m\", 0 (unload after each call) "
        "or -1 (until evicted)");
  current_request().model = model;
  check(state.runtime->set_keep_alive(model, *duration));
  log_change("keep_alive of \"" + log_escape(model) + "\" set to " + std::to_string(duration->count()) +
             " ms");
  send_json(res, 200, {{"model", model}, {"keep_alive_ms", duration->count()}});
}

AliasInfo configured_alias(const ServerState& state, const std::string& alias) {
  for (auto& info : state.runtime->aliases())
    if (info.spec.alias == alias) return info;
  throw Rejection(
      Error(ErrorCode::alias_not_found, "no alias '" + log_escape(alias) +
                                            "' in the config; a swap re-points a configured alias "
                                            "(GET /v1/runtime/models lists them)"));
}

// The alias's spec with the new model, as ModelRuntime::swap will make it: provider and options as
// the request gives them, else the alias's own (options {} also keeps them); revision as given, else none.
ModelSpec swap_target(const nlohmann::json& body, const ModelSpec& current) {
  ModelSpec target = current;
  target.model = require_string(body, "model");
  if (target.model.empty()) reject_input("'model' is empty");
  if (auto provider = optional_string(body, "provider")) {
    if (provider->empty()) reject_input("'provider' is empty; leave it out to keep the alias's provider");
    target.provider = *provider;
  }
  target.revision = optional_string(body, "revision").value_or("");
  if (target.revision.size() > kMaxRevisionBytes ||
      std::any_of(target.revision.begin(), target.revision.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
    reject_input("'revision' must be at most " + std::to_string(kMaxRevisionBytes) +
                 " bytes without control characters");
  if (auto it = body.find("options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) reject_input("'options' must be an object of provider options");
    if (!it->empty()) target.options = *it;
  }
  return target;
}

void swap(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  current_request().route = "/v1/runtime/models/swap";
  auto body = parse_json_object(req.body);
  std::string alias = require_string(body, "alias");
  current_request().model = alias;
  AliasInfo current = configured_alias(state, alias);
  ModelSpec target = swap_target(body, current.spec);
  // Before the runtime sees the target: a refused id opens no file and forwards nothing.
  enforce_swap_target_policy(state, target, current.spec);
  auto cancel = track_call(state);
  auto result = unwrap(stopped_as(state.runtime->swap(target, change_options(*cancel)), *cancel, state,
                                  "loading the new model"));
  state.metrics.refresh_model_labels();
  log_change("swapped \"" + log_escape(alias) + "\" from " + log_escape(result.from.to_string()) + " to " +
             log_escape(result.to.to_string()));
  send_json(res, 200, swap_json(result));
}

void rollback(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  current_request().route = "/v1/runtime/models/rollback";
  auto body = parse_json_object(req.body);
  std::string alias = require_string(body, "alias");
  current_request().model = alias;
  auto cancel = track_call(state);
  auto result = unwrap(stopped_as(state.runtime->rollback(alias, change_options(*cancel)), *cancel, state,
                                  "loading the previous model"));
  state.metrics.refresh_model_labels();
  log_change("rolled \"" + log_escape(alias) + "\" back from " + log_escape(result.from.to_string()) +
             " to " + log_escape(result.to.to_string()));
  send_json(res, 200, swap_json(result));
}

void reload(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  current_request().route = "/v1/runtime/reload";
  if (!req.body.empty()) parse_json_object(req.body);  // nothing to read, but no garbage either
  auto cancel = track_call(state);
  auto report = unwrap(stopped_as(reload_runtime(*state.runtime, change_options(*cancel)), *cancel, state,
                                  "the config reload"));
  state.metrics.refresh_model_labels();
  auto j = reload_json(report);
  log_change("config reloaded: " + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  send_json(res, 200, j);
}

}  // namespace

void add_lifecycle_routes(Router& router, ServerState& state) {
  router.post("/v1/runtime/models/pin",
              [&state](const HttpRequest& req, HttpResponse& res) { pin(state, req, res, true); });
  router.post("/v1/runtime/models/unpin",
              [&state](const HttpRequest& req, HttpResponse& res) { pin(state, req, res, false); });
  router.post("/v1/runtime/models/keep_alive",
              [&state](const HttpRequest& req, HttpResponse& res) { keep_alive(state, req, res); });
  router.post("/v1/runtime/models/swap",
              [&state](const HttpRequest& req, HttpResponse& res) { swap(state, req, res); });
  router.post("/v1/runtime/models/rollback",
              [&state](const HttpRequest& req, HttpResponse& res) { rollback(state, req, res); });
  router.post("/v1/runtime/reload",
              [&state](const HttpRequest& req, HttpResponse& res) { reload(state, req, res); });
}

}  // namespace xervo::server
