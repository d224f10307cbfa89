#include "server/model_policy.h"

#include <algorithm>
#include <filesystem>

#include "core/log.h"
#include "server/access_policy.h"
#include "server/server_state.h"
#include "xervo/library.h"

namespace xervo::server {
namespace {

namespace fs = std::filesystem;

// Providers whose model id is a local file (or a library / Hub id turned into one): "llamacpp:X" is
// checked as the local id X, never allowed wholesale through `providers`.
constexpr std::string_view kLocalProviders[] = {"llamacpp"};

bool is_local_provider(std::string_view id) {
  return std::find(std::begin(kLocalProviders), std::end(kLocalProviders), id) != std::end(kLocalProviders);
}

bool contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

ModelIdDecision allow(ModelIdKind kind) { return {true, kind, {}}; }
ModelIdDecision refuse(ModelIdKind kind, std::string reason) { return {false, kind, std::move(reason)}; }

// The non-empty components of a path ("/srv//m/" and "/srv/m" are the same folder).
std::vector<fs::path> components(const fs::path& p) {
  std::vector<fs::path> out;
  for (const auto& part : p)
    if (!part.empty() && part != ".") out.push_back(part);
  return out;
}

// Whether `p` names something strictly inside `folder`, comparing components only.
bool lexically_under(const fs::path& p, const fs::path& folder) {
  auto inner = components(p);
  auto outer = components(folder);
  return inner.size() > outer.size() && std::equal(outer.begin(), outer.end(), inner.begin());
}

// A local file: absolute, no "..", under an allowed folder as written and, with every symlink
// resolved, under an allowed folder's real path, and a regular file. Nothing the client named is
// looked at on disk unless the path lies, as written, under an allowed folder.
ModelIdDecision check_path(std::string_view name, const ModelIdAllowance& allowance) {
  constexpr auto kind = ModelIdKind::path;
  if (allowance.paths.empty()) return refuse(kind, "paths are off (allow_model_ids.paths is empty)");
  const fs::path p(name);
  if (!p.is_absolute()) return refuse(kind, "not an alias, and not an absolute path");
  for (const auto& part : p)
    if (part == "..") return refuse(kind, "the path holds '..'");
  bool under = false;
  std::vector<fs::path> real_folders;
  for (const auto& folder : allowance.paths) {
    std::error_code ec;
    fs::path real_folder = fs::canonical(folder, ec);
    if (ec) continue;  // a configured folder that is missing allows nothing
    under = under || lexically_under(p, folder) || lexically_under(p, real_folder);
    real_folders.push_back(std::move(real_folder));
  }
  if (!under) return refuse(kind, "not under an allowed folder (allow_model_ids.paths)");
  std::error_code ec;
  const fs::path real = fs::canonical(p, ec);
  if (ec) return refuse(kind, "no such file (" + ec.message() + ")");
  if (std::none_of(real_folders.begin(), real_folders.end(),
                   [&](const fs::path& folder) { return lexically_under(real, folder); }))
    return refuse(kind, "resolves to " + real.string() + ", outside every allowed folder");
  if (!fs::is_regular_file(real, ec)) return refuse(kind, "not a regular file");
  return allow(kind);
}

// library: and hf: ids that the library holds are its models; a missing hf: id is a Hub download.
ModelIdDecision check_local(std::string_view name, const ModelIdAllowance& allowance,
                            const ModelIdCatalog& catalog) {
  const bool library_id = name.starts_with("library:");
  if (library_id || name.starts_with("hf:")) {
    if (catalog.library) {
      auto found = catalog.library->find(name);
      if (found.ok()) return allow(ModelIdKind::library);
      if (library_id) return refuse(ModelIdKind::library, found.error().to_string());
    } else if (library_id) {
      return refuse(ModelIdKind::library, "the server has no model library");
    }
    if (allowance.hf) return allow(ModelIdKind::hf);
    return refuse(ModelIdKind::hf, "not in the library, and Hub pulls are off (allow_model_ids.hf)");
  }
  return check_path(name, allowance);
}

}  // namespace

std::string_view to_string(ModelIdKind kind) {
  switch (kind) {
    case ModelIdKind::alias:
      return "alias";
    case ModelIdKind::library:
      return "library";
    case ModelIdKind::hf:
      return "hf";
    case ModelIdKind::provider:
      return "provider";
    case ModelIdKind::path:
      return "path";
  }
  return "unknown";
}

ModelIdDecision check_model_id(std::string_view name, const ModelIdAllowance& allowance,
                               const ModelIdCatalog& catalog) {
  if (contains(catalog.aliases, name)) return allow(ModelIdKind::alias);
  if (name.size() > kMaxModelIdBytes)
    return refuse(ModelIdKind::path, "longer than " + std::to_string(kMaxModelIdBytes) + " bytes");
  // No id of any kind holds a control byte; a NUL would also cut a path short where the OS reads it.
  if (std::any_of(name.begin(), name.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
    return refuse(ModelIdKind::path, "holds control characters");
  if (const size_t colon = name.find(':'); colon != std::string_view::npos) {
    const std::string_view provider = name.substr(0, colon);
    if (contains(catalog.providers, provider)) {
      if (is_local_provider(provider)) return check_local(name.substr(colon + 1), allowance, catalog);
      if (contains(allowance.providers, provider)) return allow(ModelIdKind::provider);
      return refuse(ModelIdKind::provider,
                    "provider '" + std::string(provider) + "' is not in allow_model_ids.providers");
    }
  }
  return check_local(name, allowance, catalog);
}

Error refused_model_id(std::string_view name, const std::vector<std::string>& aliases) {
  constexpr size_t kListed = 20;
  std::string known;
  for (size_t i = 0; i < aliases.size() && i < kListed; ++i)
    known += (i ? ", " : "") + log_escape(aliases[i]);
  if (aliases.size() > kListed) known += " and " + std::to_string(aliases.size() - kListed) + " more";
  if (known.empty()) known = "(none)";
  return Error(ErrorCode::alias_not_found,
               "no model '" + log_escape(name) + "' on this server; known aliases: " + known +
                   " (GET /v1/models); library models as library:ID. File paths, hf: pulls and "
                   "PROVIDER:MODEL ids are served only where [server] allow_model_ids allows them "
                   "(docs/server.md)");
}

const ModelIdAllowance& allowance_for(const ServerOptions& options, const Principal* who) {
  if (who && who->allow_model_ids) return *who->allow_model_ids;
  if (who && options.admin_allow_model_ids && who->has(Scope::admin)) return *options.admin_allow_model_ids;
  return options.allow_model_ids;
}

Error model_not_allowed(const Principal& who, std::string_view name) {
  const std::string subject =
      who.kind == "key" ? "API key '" + who.name + "'" : "the token of '" + who.name + "'";
  return Error(ErrorCode::forbidden, subject + " may not use the model '" + log_escape(name.substr(0, 256)) +
                                         "' (its roles allow: " + who.models_text() + ")");
}

Result<ModelIdAllowance> parse_model_id_allowance(const nlohmann::json& value, const std::string& where) {
  auto invalid = [&](const std::string& key, const std::string& what) {
    return Error(ErrorCode::config_invalid,
                 "[server] " + where + (key.empty() ? "" : "." + key) + ": " + what);
  };
  if (!value.is_object())
    return invalid("", "must be a table {paths = [...], hf = false, providers = [...]}");
  ModelIdAllowance out;
  for (const auto& [key, v] : value.items()) {
    if (key == "hf") {
      if (!v.is_boolean()) return invalid(key, "must be true or false");
      out.hf = v.get<bool>();
    } else if (key == "paths" || key == "providers") {
      if (!v.is_array()) return invalid(key, "must be an array of strings");
      for (const auto& item : v) {
        if (!item.is_string() || item.get<std::string>().empty())
          return invalid(key, "must be an array of non-empty strings");
        std::string s = item.get<std::string>();
        if (key == "providers") {
          if (is_local_provider(s))
            return invalid(key, "'" + s + "' opens local files: allow them with paths (and hf) instead");
          out.providers.push_back(std::move(s));
        } else {
          fs::path folder(s);
          if (!folder.is_absolute()) return invalid(key, "'" + s + "' is not an absolute folder");
          for (const auto& part : folder)
            if (part == "..") return invalid(key, "'" + s + "' holds '..'");
          out.paths.push_back(folder.lexically_normal());
        }
      }
    } else {
      return invalid(key, "unknown key (expected paths, hf, providers)");
    }
  }
  return out;
}

namespace {

// Who the current request is (null without authentication).
const Principal* request_key(const ServerState&) { return current_request().principal.get(); }

// The audit record of a refused name; the prompt (the request body, bounded) only when configured.
void audit_refusal(ServerState& state, std::string_view name, std::string_view why) {
  nlohmann::json fields = {{"model", log_escape(name.substr(0, 256))}, {"reason", std::string(why)}};
  if (state.options.audit.include_prompts && !current_request().body.empty())
    fields["prompt"] = std::string(current_request().body.substr(0, 4096));
  audit_event(state, "model_refused", std::move(fields));
}

ModelIdCatalog catalog_of(const ServerState& state) {
  ModelIdCatalog catalog;
  for (const auto& spec : state.runtime->specs()) catalog.aliases.push_back(spec.alias);
  for (const auto& provider : state.runtime->providers()) catalog.providers.push_back(provider->id());
  catalog.library = state.options.library.get();
  return catalog;
}

[[noreturn]] void refuse_id(ServerState& state, const std::string& name, const ModelIdDecision& decision,
                            const std::vector<std::string>& aliases) {
  const auto& ctx = current_request();
  state.metrics.rejected("model_id");
  audit_refusal(state, name, "not_served");
  spdlog::warn("[{}] refused model \"{}\" ({} id) client=\"{}\": {}", ctx.request_id, log_escape(name),
               to_string(decision.kind), log_escape(ctx.client), log_escape(decision.reason));
  throw Rejection(refused_model_id(name, aliases));
}

// Spec options that choose where a remote provider connects and which credential it sends.
constexpr const char* kEndpointOptions[] = {"base_url", "api_key_env", "headers"};

}  // namespace

bool request_may_use(std::string_view name) {
  const Principal* who = current_request().principal.get();
  return !who || who->may_use_model(name);
}

void enforce_model_id_policy(ServerState& state, const std::string& name) {
  if (const Principal* who = request_key(state); who && !who->may_use_model(name)) {
    state.metrics.rejected("model_id");
    audit_refusal(state, name, "not_allowed");
    spdlog::warn("[{}] refused model \"{}\" client=\"{}\": outside its roles' models",
                 current_request().request_id, log_escape(name), log_escape(current_request().client));
    throw Rejection(model_not_allowed(*who, name));
  }
  ModelIdCatalog catalog = catalog_of(state);
  auto decision = check_model_id(name, allowance_for(state.options, request_key(state)), catalog);
  if (!decision.allowed) refuse_id(state, name, decision, catalog.aliases);
}

void enforce_swap_target_policy(ServerState& state, const ModelSpec& target, const ModelSpec& current) {
  for (const char* key : kEndpointOptions) {
    const bool set = target.options.is_object() && target.options.contains(key);
    // Kept as the config set it, for the same provider: another provider would send its own key there.
    const bool same = set && target.provider == current.provider && current.options.is_object() &&
                      current.options.contains(key) && current.options[key] == target.options[key];
    if (set && !same)
      throw Rejection(Error(ErrorCode::forbidden, std::string("a swap may not set the option '") + key +
                                                      "': a provider's endpoint and credentials come from "
                                                      "[providers.ID] or the alias in xervo.toml"));
  }
  ModelIdCatalog catalog = catalog_of(state);
  if (!contains(catalog.providers, target.provider))
    throw Rejection(Error(ErrorCode::provider_not_found,
                          "no provider '" + log_escape(target.provider) + "' is registered on this server"));
  for (const auto& spec : state.runtime->specs())
    if (spec.provider == target.provider && spec.model == target.model) return;
  const std::string name = target.provider + ":" + target.model;
  std::vector<std::string> aliases = std::move(catalog.aliases);
  catalog.aliases.clear();
  auto decision = check_model_id(name, allowance_for(state.options, request_key(state)), catalog);
  if (!decision.allowed) refuse_id(state, name, decision, aliases);
}

}  // namespace xervo::server
