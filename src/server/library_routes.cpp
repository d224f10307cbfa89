// Model library routes (library scope): GET /v1/library/search, GET /v1/library/models/{id}, POST
// /v1/library/import (files on the server's machine) and POST /v1/library/verify. Registered only when
// the build has the model library and the server was given one. (Pulls and deletes: Ollama's
// /api/pull and /api/delete, ollama_library.cpp.)
#include <algorithm>

#include "core/log.h"
#include "server/json_fields.h"
#include "server/server_state.h"

#if XERVO_HAVE_LIBRARY
#include "xervo/library.h"
#endif

namespace xervo::server {

#if XERVO_HAVE_LIBRARY
namespace {

std::optional<uint64_t> size_param(const HttpRequest& req, const char* name) {
  if (!req.has_param(name)) return std::nullopt;
  std::string v = req.param(name);
  if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
    reject_input(std::string("'") + name + "' must be a number of bytes");
  return std::stoull(v);
}

int int_param(const HttpRequest& req, const char* name, int fallback, int min, int max) {
  if (!req.has_param(name)) return fallback;
  std::string v = req.param(name);
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(v) < min || std::stoi(v) > max)
    reject_input(std::string("'") + name + "' must be an integer between " + std::to_string(min) + " and " +
                 std::to_string(max));
  return std::stoi(v);
}

LibraryQuery library_query(const HttpRequest& req) {
  LibraryQuery q;
  q.text = req.param("q");
  if (req.has_param("task")) {
    auto task = parse_model_task(req.param("task"));
    if (!task) reject_input("'task' must be embed, rerank or generate");
    q.task = task;
  }
  q.architecture = req.param("architecture");
  q.quantization = req.param("quantization");
  q.tag = req.param("tag");
  if (req.has_param("state")) {
    auto state = parse_library_model_state(req.param("state"));
    if (!state) reject_input("'state' must be downloading, ready or failed");
    q.state = state;
  }
  if (req.has_param("sort")) {
    std::string sort = req.param("sort");
    if (sort == "name")
      q.sort = LibrarySort::name;
    else if (sort == "size")
      q.sort = LibrarySort::size;
    else if (sort == "recent")
      q.sort = LibrarySort::recent;
    else if (sort == "relevance")
      q.sort = LibrarySort::relevance;
    else
      reject_input("'sort' must be name, size, recent or relevance");
  }
  q.min_size = size_param(req, "min_size");
  q.max_size = size_param(req, "max_size");
  q.limit = int_param(req, "limit", 50, 1, 1000);
  q.offset = int_param(req, "offset", 0, 0, 100000000);
  return q;
}

constexpr size_t kMaxImportPaths = 16;
constexpr size_t kMaxPathBytes = 4096;

// {"paths": ["/abs/file.gguf", ...], "mode": "link"|"copy"|"reference", "tags": [...]}: absolute paths
// on the server's machine, as `xervo models import` takes them. "move" is not offered over HTTP: a
// request never takes a file away from where its owner put it.
void import_models(ModelLibrary& library, const HttpRequest& req, HttpResponse& res) {
  current_request().route = "/v1/library/import";
  auto body = parse_json_object(req.body);
  auto it = body.find("paths");
  if (it == body.end() || !it->is_array() || it->empty() || it->size() > kMaxImportPaths)
    reject_input("'paths' must be an array of 1 to " + std::to_string(kMaxImportPaths) +
                 " absolute paths on the server");
  std::vector<std::filesystem::path> paths;
  for (const auto& p : *it) {
    if (!p.is_string()) reject_input("'paths' must hold strings");
    const auto& text = p.get_ref<const std::string&>();
    if (text.empty() || text.size() > kMaxPathBytes || text.front() != '/' ||
        std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
      reject_input("'" + log_escape(text) + "' is not an absolute path without control characters");
    paths.emplace_back(text);
  }
  ImportOptions options;
  std::string mode = optional_string(body, "mode").value_or("link");
  if (mode == "link")
    options.mode = ImportMode::link;
  else if (mode == "copy")
    options.mode = ImportMode::copy;
  else if (mode == "reference")
    options.mode = ImportMode::reference;
  else
    reject_input("'mode' must be link, copy or reference");
  if (auto tags = body.find("tags"); tags != body.end()) {
    if (!tags->is_array() || tags->size() > 32) reject_input("'tags' must be an array of at most 32 strings");
    for (const auto& t : *tags) {
      if (!t.is_string() || t.get_ref<const std::string&>().empty() ||
          t.get_ref<const std::string&>().size() > 64)
        reject_input("each tag must be a string of 1 to 64 bytes");
      options.tags.push_back(t.get<std::string>());
    }
  }
  nlohmann::json data = nlohmann::json::array();
  for (const auto& outcome : library.import_paths(paths, options)) {
    nlohmann::json item = {{"source", outcome.source.string()}, {"already_present", outcome.already_present}};
    if (outcome.model) item["model"] = to_json(*outcome.model);
    if (outcome.error)
      item["error"] = {{"code", std::string(to_string(outcome.error->code()))},
                       {"message", outcome.error->message()}};
    data.push_back(std::move(item));
  }
  spdlog::info("[{}] library import of {} path(s) by \"{}\"", current_request().request_id, paths.size(),
               log_escape(current_request().client));
  send_json(res, 200, {{"object", "list"}, {"data", data}});
}

// {"id": "publisher/name"}: re-hashes that model's file against the index.
void verify_model(ModelLibrary& library, const HttpRequest& req, HttpResponse& res) {
  current_request().route = "/v1/library/verify";
  auto body = parse_json_object(req.body);
  std::string id = require_string(body, "id");
  if (id.empty()) reject_input("'id' is empty; GET /v1/library/search lists the models");
  current_request().model = id;
  (void)unwrap(library.get(id));  // an unknown id is 404, not an empty answer
  nlohmann::json data = nlohmann::json::array();
  for (const auto& v : unwrap(library.verify(id)))
    data.push_back({{"id", v.id}, {"ok", v.ok}, {"detail", v.detail}});
  send_json(res, 200, {{"object", "list"}, {"data", data}});
}

}  // namespace

void add_library_routes(Router& router, ServerState& state) {
  if (!state.options.library) return;
  auto library = state.options.library;
  router.get("/v1/library/search", [library](const HttpRequest& req, HttpResponse& res) {
    auto models = unwrap(library->search(library_query(req)));
    nlohmann::json data = nlohmann::json::array();
    for (const auto& m : models) data.push_back(to_json(m));
    send_json(res, 200, {{"object", "list"}, {"data", data}});
  });
  router.get("/v1/library/models/{id}", [library](const HttpRequest& req, HttpResponse& res) {
    send_json(res, 200, to_json(unwrap(library->get(req.path_params.at(0)))));
  });
  router.post("/v1/library/import",
              [library](const HttpRequest& req, HttpResponse& res) { import_models(*library, req, res); });
  router.post("/v1/library/verify",
              [library](const HttpRequest& req, HttpResponse& res) { verify_model(*library, req, res); });
}
#else
void add_library_routes(Router&, ServerState&) {}
#endif

}  // namespace xervo::server
