#include "server/router.h"

#include <stdexcept>

namespace xervo::server {

void Router::add(std::string method, std::string pattern, Handler handler) {
  Route route{std::move(method), std::move(pattern), false, std::move(handler)};
  if (size_t brace = route.prefix.find('{'); brace != std::string::npos) {
    if (route.prefix.back() != '}' || route.prefix.find('{', brace + 1) != std::string::npos)
      throw std::logic_error("route pattern '" + route.prefix + "' may hold one {name}, at its end");
    route.prefix.resize(brace);
    route.captures = true;
  }
  routes_.push_back(std::move(route));
}

bool Router::matches(const Route& route, const std::string& path, std::string* captured) {
  if (!route.captures) return path == route.prefix;
  if (path.size() <= route.prefix.size() || !path.starts_with(route.prefix)) return false;
  *captured = path.substr(route.prefix.size());
  return true;
}

Router::Match Router::find(HttpRequest& request, const Handler** handler, std::string* allowed) const {
  bool path_known = false;
  std::string captured;
  for (const auto& route : routes_) {
    if (!matches(route, request.path, &captured)) continue;
    path_known = true;
    if (route.method == request.method) {
      request.path_params.clear();
      if (route.captures) request.path_params.push_back(captured);
      *handler = &route.handler;
      return Match::found;
    }
    if (allowed->find(route.method) == std::string::npos)
      *allowed += (allowed->empty() ? "" : ", ") + route.method;
  }
  return path_known ? Match::wrong_method : Match::no_route;
}

}  // namespace xervo::server
