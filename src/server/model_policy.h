// The model-id policy of the HTTP front door: which names a request may send as `model`. Configured
// aliases and the library's models are always allowed; file paths, hf: pulls and PROVIDER:MODEL ids
// only as a ModelIdAllowance says (ServerOptions::allow_model_ids, per key or admin scope). The check
// runs before the runtime sees the name, so a refused id opens no file, downloads nothing, forwards
// nothing and leaves no registry record, and its error is the same whatever exists on disk.
// Stateless functions; safe from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"
#include "xervo/server.h"

namespace xervo::server {

// What the runtime would take a name for (runtime.cpp's order: alias, PROVIDER:, then local ids).
enum class ModelIdKind { alias, library, hf, provider, path };
std::string_view to_string(ModelIdKind kind);

// What the server knows about names without touching the file system.
struct ModelIdCatalog {
  std::vector<std::string> aliases;    // configured aliases
  std::vector<std::string> providers;  // ids of the registered providers
  ModelLibrary* library = nullptr;     // where library: and hf: ids are looked up; null: none
};

struct ModelIdDecision {
  bool allowed = false;
  ModelIdKind kind = ModelIdKind::path;
  std::string reason;  // why it was refused: for the server log only (it may state file-system facts)
};

// The longest name that is checked at all; longer ones are refused unread.
inline constexpr size_t kMaxModelIdBytes = 4096;

// Decides `name` for a request holding `allowance`. Touches the file system only for a path that
// lies, as written, under one of the allowance's folders (to resolve its symlinks).
ModelIdDecision check_model_id(std::string_view name, const ModelIdAllowance& allowance,
                               const ModelIdCatalog& catalog);

// The one error of every refused id (404 alias_not_found): the id (escaped, bounded), the aliases and
// the config key that would allow more. It never says why, so it cannot tell what exists on disk.
Error refused_model_id(std::string_view name, const std::vector<std::string>& aliases);

struct Principal;  // access_policy.h
// The allowance of a request made by `who` (null: no authentication): the key's own, else
// admin_allow_model_ids for a principal with the admin scope, else allow_model_ids.
const ModelIdAllowance& allowance_for(const ServerOptions& options, const Principal* who);

// The 403 (forbidden) of a name outside the principal's model
// allow-list (its roles' `models`).
Error model_not_allowed(const Principal& who, std::string_view name);

// A {paths, hf, providers} table of the config; `where` ("allow_model_ids") names it in errors.
Result<ModelIdAllowance> parse_model_id_allowance(const nlohmann::json& value, const std::string& where);

struct ServerState;
// Whether the current request's principal may use `name` (true without authentication): what the
// model listings (/v1/models, /api/tags, /api/ps) show.
bool request_may_use(std::string_view name);

// For the current request: throws a Rejection with model_not_allowed() when the principal's roles
// do not allow `name`, or with refused_model_id() (and logs the escaped id, its kind, the client and
// the reason) unless the allowance of the request's key permits it. Both are counted in the metrics
// (reason "model_id") and recorded in the audit log (event model_refused).
void enforce_model_id_policy(ServerState& state, const std::string& name);

// For a swap (POST /v1/runtime/models/swap) to `target` from `current`: the target's provider must be
// registered, and its model either the provider and model of a configured alias or an id the request's
// key may name (check_model_id of "PROVIDER:MODEL", aliases not counting: a swap target is a model, not
// a name). Its options may not change where a provider sends the operator's key (base_url, api_key_env,
// headers: forbidden), nor carry them to another provider. Throws a Rejection, logged and counted as
// enforce_model_id_policy does.
void enforce_swap_target_policy(ServerState& state, const ModelSpec& target, const ModelSpec& current);

}  // namespace xervo::server
