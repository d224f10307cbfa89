// The web dashboard (ui/, embedded by the build): GET / serves its page and /assets/* its files,
// with a strict Content-Security-Policy (nothing but this server: no inline script, no other host)
// and no authentication (the files hold no data: every call the page makes is an API request with
// the user's key, authenticated and scoped like any other). GET /v1/runtime/requests (admin) lists
// the recent requests of the Activity page.
#include <algorithm>

#include "server/dashboard_activity.h"
#include "server/dashboard_assets.h"
#include "server/server_state.h"

namespace xervo::server {
namespace {

// Scripts, styles, images and fetches from this origin only; no frames, no forms, no plugins, no
// <base>. Styles set through the CSSOM (element.style) are not inline styles and stay allowed.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

void security_headers(HttpResponse& res) {
  res.set_header("Content-Security-Policy", kContentSecurityPolicy);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cross-Origin-Opener-Policy", "same-origin");
  res.set_header("Cross-Origin-Resource-Policy", "same-origin");
}

const DashboardAsset* find_asset(std::string_view path) {
  auto assets = dashboard_assets();
  auto it =
      std::find_if(assets.begin(), assets.end(), [&](const DashboardAsset& a) { return a.path == path; });
  return it == assets.end() ? nullptr : &*it;
}

// Whether an Accept-Encoding header lists gzip without q=0 (RFC 9110, 12.5.3).
bool accepts_gzip(std::string_view header) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t comma = header.find(',', pos);
    if (comma == std::string_view::npos) comma = header.size();
    std::string item;
    for (char c : header.substr(pos, comma - pos))
      if (c != ' ' && c != '\t') item += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    pos = comma + 1;
    std::string coding = item.substr(0, item.find(';'));
    if (coding != "gzip" && coding != "x-gzip") continue;
    auto q = item.find(";q=");
    if (q == std::string::npos) return true;
    std::string v = item.substr(q + 3);
    return !(v == "0" || v == "0." || v == "0.0" || v == "0.00" || v == "0.000");
  }
  return false;
}

std::string escape_html(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void send_asset(const HttpRequest& req, HttpResponse& res, std::string_view path) {
  current_request().route = "/dashboard";
  security_headers(res);
  if (const DashboardAsset* asset = find_asset(path)) {
    res.status = 200;
    // Vite names built files by their content hash: they never change under one name.
    res.set_header("Cache-Control",
                   path.starts_with("/assets/") ? "public, max-age=31536000, immutable" : "no-cache");
    res.set_header("Vary", "Accept-Encoding");
    if (asset->gzip_data && accepts_gzip(req.header("Accept-Encoding"))) {
      res.set_header("Content-Encoding", "gzip");
      res.set_content(std::string(reinterpret_cast<const char*>(asset->gzip_data), asset->gzip_size),
                      std::string(asset->content_type));
      return;
    }
    res.set_content(std::string(reinterpret_cast<const char*>(asset->data), asset->size),
                    std::string(asset->content_type));
    return;
  }
  if (path != "/index.html") {
    send_json(res, 404,
              {{"error",
                {{"message", "no dashboard file " + req.path},
                 {"type", "not_found_error"},
                 {"code", "not_found"}}}});
    return;
  }
  // Built without node/npm: a page that says so (the API works all the same).
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_content(
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>xervo</title></head><body>"
      "<h1>xervo</h1><p>The dashboard was not built into this binary: " +
          escape_html(dashboard_missing_reason()) +
          "</p><p>Install node and npm (<code>scripts/bootstrap</code>), then build again. The API works "
          "as usual: see docs/server.md.</p></body></html>",
      "text/html; charset=utf-8");
}

}  // namespace

bool is_dashboard_path(std::string_view path) {
  return path == "/" || path == "/index.html" || path == "/favicon.svg" || path.starts_with("/assets/");
}

void add_dashboard_routes(Router& router, ServerState& state) {
  state.recent_requests = std::make_shared<RecentRequests>();
  router.get("/", [](const HttpRequest& req, HttpResponse& res) { send_asset(req, res, "/index.html"); });
  router.get("/index.html",
             [](const HttpRequest& req, HttpResponse& res) { send_asset(req, res, "/index.html"); });
  router.get("/favicon.svg",
             [](const HttpRequest& req, HttpResponse& res) { send_asset(req, res, "/favicon.svg"); });
  router.get("/assets/{file}",
             [](const HttpRequest& req, HttpResponse& res) { send_asset(req, res, req.path); });
  router.get("/v1/runtime/requests", [&state](const HttpRequest& req, HttpResponse& res) {
    current_request().route = "/v1/runtime/requests";
    size_t limit = RecentRequests::kCapacity;
    if (req.has_param("limit")) {
      std::string v = req.param("limit");
      if (v.empty() || v.size() > 4 || v.find_first_not_of("0123456789") != std::string::npos ||
          std::stoul(v) < 1 || std::stoul(v) > RecentRequests::kCapacity)
        reject_input("'limit' must be an integer between 1 and " + std::to_string(RecentRequests::kCapacity));
      limit = std::stoul(v);
    }
    send_json(res, 200, {{"object", "list"}, {"data", state.recent_requests->json(limit)}});
  });
}

void record_recent_request(ServerState& state, const HttpRequest& req, int status, double seconds) {
  const auto& ctx = current_request();
  if (!state.recent_requests || !RecentRequests::recorded(ctx.route)) return;
  RecentRequest r;
  r.at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  r.request_id = ctx.request_id;
  r.method = req.method;
  r.route = ctx.route;
  r.path = req.path;
  r.status = status;
  r.duration_ms = seconds * 1000.0;
  r.model = ctx.model;
  r.client = ctx.principal ? ctx.principal->id() : ctx.client_ip;
  r.tokens_in = ctx.tokens_in;
  r.tokens_out = ctx.tokens_out;
  state.recent_requests->add(std::move(r));
}

}  // namespace xervo::server
