// Ollama's model listing: GET /api/tags (aliases and library models), GET /api/ps (what the runtime
// has loaded, with its keep-alive expiry), POST /api/show (what a model is) and GET /api/version.
#include <algorithm>
#include <filesystem>

#include "server/json_fields.h"
#include "server/model_policy.h"
#include "server/ollama_api.h"

#if XERVO_HAVE_LIBRARY
#include "xervo/library.h"
#endif

namespace xervo::server::ollama {
namespace {

// The Ollama API level these routes follow (clients gate features on /api/version): chat and
// generate with tools, think, structured format and logprobs, embed with dimensions.
constexpr const char* kApiVersion = "0.12.0";
// How many library models /api/tags lists (by name).
constexpr int kMaxListedLibraryModels = 1000;
// expires_at of a model that never expires (pinned, or keep_alive -1).
constexpr const char* kNever = "9999-12-31T23:59:59Z";

// Options that say where a remote provider connects or which credential it sends: never shown.
constexpr std::string_view kHiddenOptions[] = {"base_url", "api_key_env", "headers", "api_key"};

nlohmann::json tag_entry(const ModelFacts& f) {
  return {{"name", f.name}, {"model", f.name},    {"modified_at", rfc3339(f.modified_at)},
          {"size", f.size}, {"digest", f.digest}, {"details", details_json(f)}};
}

void tags(ServerState& state, HttpResponse& res) {
  current_request().route = "/api/tags";
  nlohmann::json models = nlohmann::json::array();
  for (const auto& spec : state.runtime->specs())
    if (request_may_use(spec.alias)) models.push_back(tag_entry(alias_facts(state, spec)));
#if XERVO_HAVE_LIBRARY
  if (state.options.library) {
    LibraryQuery q;
    q.state = LibraryModelState::ready;
    q.sort = LibrarySort::name;
    q.limit = kMaxListedLibraryModels;
    for (const auto& m : unwrap(state.options.library->search(q))) {
      ModelFacts f = library_facts(m);
      if (request_may_use(f.name)) models.push_back(tag_entry(f));
    }
  }
#endif
  send_json(res, 200, {{"models", std::move(models)}});
}

bool configured(const std::vector<ModelSpec>& specs, const std::string& name) {
  return std::any_of(specs.begin(), specs.end(), [&](const ModelSpec& s) { return s.alias == name; });
}

// How /api/ps names a loaded model: its first configured alias, else the id it was asked by, with a
// file path cut to its file name (another client's path is none of this client's business).
std::string loaded_name(const ModelRecord& r, const std::vector<ModelSpec>& specs) {
  for (const auto& a : r.aliases)
    if (configured(specs, a)) return a;
  const std::string& m = r.key.model;
  if (m.starts_with("library:")) return m.substr(8);
  if (m.starts_with("hf:") || !std::filesystem::path(m).is_absolute()) return r.key.provider + ":" + m;
  return r.key.provider + ":" + std::filesystem::path(m).filename().string();
}

ModelFacts loaded_facts(const ServerState& state, const ModelRecord& r, const std::string& name,
                        const std::vector<ModelSpec>& specs) {
  for (const auto& spec : specs)
    if (spec.alias == name) return alias_facts(state, spec);
  ModelSpec spec;
  spec.alias = name;
  spec.task = r.task;
  spec.provider = r.key.provider;
  spec.model = r.key.model;
  spec.revision = r.key.revision;
  return alias_facts(state, spec);
}

std::string expires_at(const ModelRecord& r) {
  if (r.expires_at) return rfc3339(*r.expires_at);
  if (r.pinned || r.keep_alive.count() < 0) return kNever;
  // Busy: it cannot expire before its keep-alive has run from now.
  return rfc3339(std::chrono::system_clock::now() + r.keep_alive);
}

void ps(ServerState& state, HttpResponse& res) {
  current_request().route = "/api/ps";
  const auto specs = state.runtime->specs();
  nlohmann::json models = nlohmann::json::array();
  for (const auto& r : state.runtime->models()) {
    if (r.state != ModelState::loaded) continue;
    const std::string name = loaded_name(r, specs);
    if (!request_may_use(name)) continue;
    ModelFacts f = loaded_facts(state, r, name, specs);
    nlohmann::json entry = tag_entry(f);
    entry["size"] = r.memory_bytes;  // what it holds in memory, as Ollama reports
    entry["size_vram"] = 0;          // xervo runs models on the CPU
    entry["expires_at"] = expires_at(r);
    models.push_back(std::move(entry));
  }
  send_json(res, 200, {{"models", std::move(models)}});
}

bool hidden_option(const std::string& key) {
  return std::find(std::begin(kHiddenOptions), std::end(kHiddenOptions), key) != std::end(kHiddenOptions);
}

// The alias's scalar provider options as Ollama's "parameters" text, one "key value" per line.
std::string parameters_text(const ModelSpec& spec) {
  std::string out;
  if (!spec.options.is_object()) return out;
  for (const auto& [key, value] : spec.options.items()) {
    if (hidden_option(key) || value.is_object() || value.is_array()) continue;
    out += key + std::string(key.size() < 30 ? 30 - key.size() : 1, ' ') +
           (value.is_string() ? value.get<std::string>() : value.dump()) + "\n";
  }
  return out;
}

// Where the model comes from, without file-system detail: library:ID, PROVIDER:MODEL, or the
// provider and the file's name.
std::string source_of(const ModelSpec& spec) {
  if (spec.model.starts_with("library:") || spec.model.starts_with("hf:")) return spec.model;
  std::filesystem::path p(spec.model);
  return spec.provider + ":" + (p.is_absolute() ? p.filename().string() : spec.model);
}

std::string modelfile(const std::string& name, const ModelSpec& spec, const ModelFacts& f) {
  std::string out =
      "# Modelfile generated by xervo for \"" + name + "\" (alias or id; see docs/server/ollama.md)\n";
  out += "FROM " + source_of(spec) + "\n";
  if (!f.chat_template.empty()) out += "TEMPLATE \"\"\"" + f.chat_template + "\"\"\"\n";
  std::string params = parameters_text(spec);
  for (size_t start = 0; start < params.size();) {
    const size_t end = params.find('\n', start);
    out += "PARAMETER " + params.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

nlohmann::json capabilities(const ModelFacts& f) {
  nlohmann::json caps = nlohmann::json::array();
  if (f.task == ModelTask::embed) return {"embedding"};
  if (f.task == ModelTask::rerank) return {"rerank"};
  caps.push_back("completion");
  const bool remote = f.provider == "openai" || f.provider == "gemini";  // they pass tools through
  if (remote || f.chat_template.find("tools") != std::string::npos) caps.push_back("tools");
  for (const char* marker : {"<think>", "enable_thinking", "reasoning_content"})
    if (f.chat_template.find(marker) != std::string::npos) {
      caps.push_back("thinking");
      break;
    }
  return caps;
}

void show(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  current_request().route = "/api/show";
  auto body = parse_json_object(req.body);
  const std::string asked = requested_model(body);
  optional_bool(body, "verbose");  // accepted; the arrays it would add are not kept
  const std::string name = runtime_name(state, asked);
  // Before anything is read: an id the key may not name is the same 404 whatever exists on disk.
  enforce_model_id_policy(state, name);
  ModelSpec spec;
  ModelFacts f;
  if (configured(state.runtime->specs(), name)) {
    spec = unwrap(state.runtime->resolve(name));
    f = alias_facts(state, spec);
#if XERVO_HAVE_LIBRARY
  } else if (auto id = library_id(state, name)) {
    auto model = unwrap(state.options.library->get(*id));
    f = library_facts(model);
    f.chat_template = chat_template_of(model.file);
    spec.alias = name;
    spec.task = f.task;
    spec.provider = f.provider;
    spec.model = name;
#endif
  } else {
    // An id the policy allows (PROVIDER:MODEL, a path): shown as a generator, its likeliest use.
    spec = unwrap(state.runtime->resolve(name, ModelTask::generate));
    f = alias_facts(state, spec);
    f.name = asked;
  }
  current_request().model = spec.alias;
  send_json(res, 200,
            {{"license", ""},
             {"modelfile", modelfile(asked, spec, f)},
             {"parameters", parameters_text(spec)},
             {"template", f.chat_template},
             {"system", ""},
             {"details", details_json(f)},
             {"model_info", f.model_info},
             {"capabilities", capabilities(f)},
             {"modified_at", rfc3339(f.modified_at)}});
}

}  // namespace

void add_model_routes(Router& router, ServerState& state) {
  router.get("/api/tags", [&state](const HttpRequest&, HttpResponse& res) { tags(state, res); });
  router.get("/api/ps", [&state](const HttpRequest&, HttpResponse& res) { ps(state, res); });
  router.post("/api/show", [&state](const HttpRequest& req, HttpResponse& res) { show(state, req, res); });
  router.get("/api/version", [](const HttpRequest&, HttpResponse& res) {
    current_request().route = "/api/version";
    send_json(res, 200, {{"version", kApiVersion}});
  });
}

}  // namespace xervo::server::ollama
