// Model library routes (admin scope): GET /v1/library/search and GET /v1/library/models/{id}.
// Registered only when the build has the model library and the server was given one.
#include "server/server_state.h"

#if XERVO_HAVE_LIBRARY
#include "xervo/library.h"
#endif

namespace xervo::server {

#if XERVO_HAVE_LIBRARY
namespace {

std::optional<uint64_t> size_param(const httplib::Request& req, const char* name) {
  if (!req.has_param(name)) return std::nullopt;
  std::string v = req.get_param_value(name);
  if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
    reject_input(std::string("'") + name + "' must be a number of bytes");
  return std::stoull(v);
}

int int_param(const httplib::Request& req, const char* name, int fallback, int min, int max) {
  if (!req.has_param(name)) return fallback;
  std::string v = req.get_param_value(name);
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(v) < min || std::stoi(v) > max)
    reject_input(std::string("'") + name + "' must be an integer between " + std::to_string(min) + " and " +
                 std::to_string(max));
  return std::stoi(v);
}

LibraryQuery parse_query(const httplib::Request& req) {
  LibraryQuery q;
  q.text = req.get_param_value("q");
  if (req.has_param("task")) {
    auto task = parse_model_task(req.get_param_value("task"));
    if (!task) reject_input("'task' must be embed, rerank or generate");
    q.task = task;
  }
  q.architecture = req.get_param_value("architecture");
  q.quantization = req.get_param_value("quantization");
  q.tag = req.get_param_value("tag");
  if (req.has_param("state")) {
    auto state = parse_library_model_state(req.get_param_value("state"));
    if (!state) reject_input("'state' must be downloading, ready or failed");
    q.state = state;
  }
  if (req.has_param("sort")) {
    std::string sort = req.get_param_value("sort");
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

void add_library_routes(httplib::Server& http, ServerState& state) {
  if (!state.options.library) return;
  auto library = state.options.library;
  http.Get("/v1/library/search", [library](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      auto models = unwrap(library->search(parse_query(req)));
      nlohmann::json data = nlohmann::json::array();
      for (const auto& m : models) data.push_back(to_json(m));
      send_json(res, 200, {{"object", "list"}, {"data", data}});
    });
  });
  http.Get(R"(/v1/library/models/(.+))", [library](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      auto model = unwrap(library->get(req.matches[1].str()));
      send_json(res, 200, to_json(model));
    });
  });
}
#else
void add_library_routes(httplib::Server&, ServerState&) {}
#endif

}  // namespace xervo::server
