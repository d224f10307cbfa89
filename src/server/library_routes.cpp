// Model library routes (admin scope): GET /v1/library/search and GET /v1/library/models/{id}.
// Registered only when the build has the model library and the server was given one.
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
}
#else
void add_library_routes(Router&, ServerState&) {}
#endif

}  // namespace xervo::server
