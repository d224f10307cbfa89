// Router: method + path pattern -> handler. A pattern is an exact path ("/v1/embeddings") or a
// prefix ending in "{name}", which matches one or more remaining characters (slashes included)
// and hands them to the handler in HttpRequest::path_params. Built before the server starts,
// then only read: dispatch is safe from any number of threads.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "server/http_message.h"

namespace xervo::server {

class Router {
 public:
  using Handler = std::function<void(const HttpRequest&, HttpResponse&)>;

  void get(std::string pattern, Handler handler) { add("GET", std::move(pattern), std::move(handler)); }
  void post(std::string pattern, Handler handler) { add("POST", std::move(pattern), std::move(handler)); }
  void add(std::string method, std::string pattern, Handler handler);

  enum class Match { found, no_route, wrong_method };
  // The handler for the request's method and path, or why there is none. On `found` fills
  // request.path_params. `allowed` gets the methods the path has (for 405's Allow header).
  Match find(HttpRequest& request, const Handler** handler, std::string* allowed) const;

 private:
  struct Route {
    std::string method;
    std::string prefix;  // exact path, or the part before "{name}"
    bool captures = false;
    Handler handler;
  };
  static bool matches(const Route& route, const std::string& path, std::string* captured);
  std::vector<Route> routes_;
};

}  // namespace xervo::server
