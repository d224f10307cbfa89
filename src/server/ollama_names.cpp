// Ollama model names onto xervo's: aliases, library ids and the ids the runtime resolves itself (the
// rules are listed in ollama_api.h and docs/server/ollama.md), plus Ollama's timestamps.
#include <ctime>

#include "server/json_fields.h"
#include "server/model_policy.h"
#include "server/ollama_api.h"

#if XERVO_HAVE_LIBRARY
#include "xervo/library.h"
#endif

namespace xervo::server::ollama {
namespace {

constexpr std::string_view kLatest = ":latest";

bool is_alias(const ServerState& state, std::string_view name) {
  for (const auto& spec : state.runtime->specs())
    if (spec.alias == name) return true;
  return false;
}

// An id the runtime reads by its own scheme: left exactly as the client wrote it.
bool has_runtime_scheme(const ServerState& state, std::string_view name) {
  if (name.starts_with("library:") || name.starts_with("hf:") || name.starts_with("/")) return true;
  const size_t colon = name.find(':');
  if (colon == std::string_view::npos) return false;
  for (const auto& provider : state.runtime->providers())
    if (provider->id() == name.substr(0, colon)) return true;
  return false;
}

#if XERVO_HAVE_LIBRARY
// The import's naming of an Ollama manifest (import_scan.cpp): lowercase, [a-z0-9._-], runs of
// anything else as one '-'.
std::string normalized(std::string_view text) {
  std::string out;
  bool dash = false;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '.' || c == '_' || c == '-') {
      out.push_back(static_cast<char>(std::tolower(u)));
      dash = false;
    } else if (!dash && !out.empty()) {
      out.push_back('-');
      dash = true;
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

bool library_has(ModelLibrary& library, const std::string& id) {
  return is_library_id(id) && library.get(id).ok();
}
#endif

}  // namespace

std::optional<std::string> library_id(const ServerState& state, std::string_view name) {
#if XERVO_HAVE_LIBRARY
  if (!state.options.library || name.empty() || name.size() > kMaxModelIdBytes) return std::nullopt;
  ModelLibrary& library = *state.options.library;
  if (name.starts_with("library:") || name.starts_with("hf:")) {
    auto found = library.find(name);
    if (found.ok()) return found->id;
    return std::nullopt;
  }
  if (has_runtime_scheme(state, name)) return std::nullopt;
  std::string_view base = name;
  if (base.ends_with(kLatest)) base.remove_suffix(kLatest.size());
  if (library_has(library, std::string(base))) return std::string(base);
  // Ollama's NAMESPACE/MODEL:TAG, as the import names it.
  std::string_view model = name, tag = "latest";
  if (const size_t colon = name.rfind(':'); colon != std::string_view::npos) {
    model = name.substr(0, colon);
    tag = name.substr(colon + 1);
  }
  std::string ns = "ollama";
  if (const size_t slash = model.rfind('/'); slash != std::string_view::npos) {
    ns = normalized(model.substr(0, slash));
    if (ns == "library") ns = "ollama";
    model = model.substr(slash + 1);
  }
  std::string id = ns + "/" + normalized(std::string(model) + "-" + std::string(tag));
  if (library_has(library, id)) return id;
#else
  (void)state;
  (void)name;
#endif
  return std::nullopt;
}

std::string runtime_name(const ServerState& state, std::string_view name) {
  if (is_alias(state, name)) return std::string(name);
  if (name.ends_with(kLatest)) {
    std::string_view base = name.substr(0, name.size() - kLatest.size());
    if (is_alias(state, base)) return std::string(base);
  }
  if (has_runtime_scheme(state, name)) return std::string(name);
  if (auto id = library_id(state, name)) return "library:" + *id;
  return std::string(name);
}

std::string requested_model(const nlohmann::json& body) {
  auto model = optional_string(body, "model");
  if (!model || model->empty()) model = optional_string(body, "name");
  if (!model || model->empty())
    reject_input("'model' is required: an alias or library model as GET /api/tags lists them");
  return *model;
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto since = t.time_since_epoch();
  auto seconds = std::chrono::floor<std::chrono::seconds>(since);
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(since - seconds).count();
  const std::time_t tt = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  gmtime_r(&tt, &utc);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<long long>(nanos));
  return buf;
}

}  // namespace xervo::server::ollama
