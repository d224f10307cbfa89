// GET /v1/runtime/devices: the compute devices the local engines see (ggml's backend devices: name,
// backend, type, total and free memory), read fresh on every call. Admin scope, as every
// /v1/runtime/ path.
#include <algorithm>

#include "server/server_state.h"

namespace xervo::server {

nlohmann::json devices_json(ModelRuntime& runtime) {
  nlohmann::json out = nlohmann::json::array();
  std::vector<std::string> seen;
  for (const auto& p : runtime.providers())
    for (const auto& d : p->devices()) {
      if (std::find(seen.begin(), seen.end(), d.name) != seen.end()) continue;  // engines sharing ggml
      seen.push_back(d.name);
      out.push_back({{"name", d.name},
                     {"description", d.description},
                     {"backend", d.backend},
                     {"type", d.type},
                     {"memory_total", d.memory_total},
                     {"memory_free", d.memory_free},
                     {"provider", p->id()}});
    }
  return out;
}

void add_device_routes(Router& router, ServerState& state) {
  router.get("/v1/runtime/devices", [&state](const HttpRequest&, HttpResponse& res) {
    current_request().route = "/v1/runtime/devices";
    send_json(res, 200, {{"object", "list"}, {"data", devices_json(*state.runtime)}});
  });
}

}  // namespace xervo::server
