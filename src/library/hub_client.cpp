#include "library/hub_client.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "library/files.h"
#include "library/sqlite.h"
#include "net/http_client.h"

namespace xervo::library {
namespace fs = std::filesystem;

HubClient::HubClient(const LibraryOptions& options) : options_(options), http_(net::HttpClient::shared()) {
  retry_policy.max_attempts = 5;
  retry_policy.base_delay = std::chrono::milliseconds(500);
  retry_policy.max_total = std::chrono::milliseconds(300'000);
}

HubClient::~HubClient() = default;

std::string HubClient::token() const {
  const char* t = std::getenv(options_.hub_token_env.c_str());
  return t ? t : "";
}

Error HubClient::http_error(const net::HttpResponse& response, const std::string& what) const {
  const int status = response.status;
  std::string excerpt = response.body.substr(0, 200);
  for (auto& c : excerpt)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  std::string detail =
      what + ": HTTP " + std::to_string(status) + (excerpt.empty() ? "" : " (" + excerpt + ")");
  if (response.attempts > 1) detail += " after " + std::to_string(response.attempts) + " attempts";
  switch (status) {
    case 401:
      return Error(ErrorCode::unauthorized,
                   detail + "; set " + options_.hub_token_env + " to a Hugging Face token with read access");
    case 403:
      return Error(
          ErrorCode::forbidden,
          detail + "; the repository may be gated: accept its terms on the Hub with the token's account");
    case 404:
      return Error(ErrorCode::model_not_found, detail + "; check the repository, revision and file names");
    case 429: {
      std::string wait;
      if (auto after = response.headers.get("Retry-After")) wait = " (the Hub asks to wait " + *after + " s)";
      return Error(ErrorCode::rate_limited,
                   detail + "; the Hub is rate limiting" + wait + ": retry later or set a token");
    }
    default:
      return Error(status >= 500 ? ErrorCode::unavailable : ErrorCode::inference_failed, detail);
  }
}

Result<std::string> HubClient::get_json_text(const std::string& url) {
  net::HttpRequest req;
  req.url = url;
  req.accept_compressed = true;
  req.connect_timeout = std::chrono::milliseconds(options_.connect_timeout_ms);
  req.idle_timeout = std::chrono::milliseconds(options_.idle_timeout_ms);
  req.timeout = std::chrono::milliseconds(options_.idle_timeout_ms * 2);
  req.max_body_bytes = 64ull << 20;
  req.headers.add("Accept", "application/json");
  if (auto t = token(); !t.empty()) req.headers.add("Authorization", "Bearer " + t);
  auto resp = net::send_with_retry(*http_, req, retry_policy);
  if (!resp) return Error(resp.error().code(), "Hugging Face Hub: " + resp.error().message());
  if (!resp->success()) return http_error(*resp, net::redact_url(url));
  return std::move(resp->body);
}

Result<std::vector<HubModelInfo>> HubClient::search(std::string_view text, int limit) {
  limit = std::clamp(limit, 1, 100);
  std::string url = options_.hub_endpoint + "/api/models?search=" + url_encode_query(text) +
                    "&filter=gguf&limit=" + std::to_string(limit);
  fs::path cache_path = options_.home / "cache" / "hub.db";
  std::string body;
  bool cached = false;
  {
    std::lock_guard lock(cache_mutex_);
    // A read-only home still reads its cache; it just never writes one.
    auto db = Database::open(cache_path, options_.busy_timeout_ms,
                             options_.read_only ? OpenMode::read_only : OpenMode::read_write);
    if (db &&
        (options_.read_only ||
         db->exec("PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS search_cache(url TEXT PRIMARY KEY, "
                  "body TEXT NOT NULL, fetched_at INTEGER NOT NULL)"))) {
      if (auto stmt = db->prepare("SELECT body FROM search_cache WHERE url = ?1 AND fetched_at >= ?2");
          stmt) {
        stmt->bind(1, url).bind(2, unix_now() - options_.hub_search_ttl_s);
        if (auto row = stmt->step(); row && *row) {
          body = stmt->column_text(0);
          cached = true;
        }
      }
    }
  }
  if (!cached) {
    auto text_body = get_json_text(url);
    if (!text_body) return text_body.error();
    body = std::move(*text_body);
  }
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_array())
    return Error(ErrorCode::inference_failed,
                 "Hugging Face search answered something that is not a JSON array");
  std::vector<HubModelInfo> out;
  for (const auto& m : j) {
    if (!m.is_object()) continue;
    HubModelInfo info;
    if (m.contains("id") && m["id"].is_string())
      info.repo = m["id"];
    else if (m.contains("modelId") && m["modelId"].is_string())
      info.repo = m["modelId"];
    if (!valid_repo(info.repo)) continue;
    if (m.contains("downloads") && m["downloads"].is_number_integer()) info.downloads = m["downloads"];
    if (m.contains("likes") && m["likes"].is_number_integer()) info.likes = m["likes"];
    if (m.contains("lastModified") && m["lastModified"].is_string()) info.last_modified = m["lastModified"];
    if (m.contains("tags") && m["tags"].is_array())
      for (const auto& t : m["tags"])
        if (t.is_string() && info.tags.size() < 32) info.tags.push_back(t);
    out.push_back(std::move(info));
  }
  if (!cached && !options_.read_only) {
    std::lock_guard lock(cache_mutex_);
    if (auto db = Database::open(cache_path, options_.busy_timeout_ms)) {
      if (auto stmt =
              db->prepare("INSERT OR REPLACE INTO search_cache(url, body, fetched_at) VALUES(?1, ?2, ?3)"))
        (void)stmt->bind(1, url).bind(2, body).bind(3, unix_now()).run();
    }
  }
  return out;
}

Result<HubListing> HubClient::list_files(std::string_view repo, std::string_view revision) {
  if (!valid_repo(repo))
    return Error(ErrorCode::invalid_input, "bad repository name '" + std::string(repo) + "'");
  std::string rev = revision.empty() ? "main" : std::string(revision);
  std::string url = options_.hub_endpoint + "/api/models/" + url_encode_path(repo) + "/revision/" +
                    url_encode_query(rev) + "?blobs=true";
  auto body = get_json_text(url);
  if (!body) return body.error();
  auto j = nlohmann::json::parse(*body, nullptr, false);
  std::string where = "listing of " + std::string(repo) + "@" + rev;
  if (!j.is_object() || !j.contains("siblings") || !j["siblings"].is_array())
    return Error(ErrorCode::inference_failed, where + ": not a model revision object (no siblings array)");
  HubListing listing;
  if (j.contains("sha") && j["sha"].is_string()) listing.revision = j["sha"];
  if (listing.revision.empty() || !valid_repo_part(listing.revision)) listing.revision = rev;
  for (const auto& s : j["siblings"]) {
    if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string()) continue;
    HubFileEntry f;
    f.path = s["rfilename"];
    // Only model entries (GGUF, whisper.cpp .bin) are ever used; others may be odd without harm.
    if (!ends_with_ci(f.path, ".gguf") && !ends_with_ci(f.path, ".bin")) {
      listing.files.push_back(std::move(f));
      continue;
    }
    if (!valid_repo_path(f.path))
      return Error(ErrorCode::invalid_input,
                   where + ": refusing unsafe file name '" + f.path.substr(0, 200) + "'");
    const nlohmann::json* lfs = s.contains("lfs") && s["lfs"].is_object() ? &s["lfs"] : nullptr;
    const nlohmann::json& size_src =
        lfs && lfs->contains("size") ? (*lfs)["size"] : s.value("size", nlohmann::json());
    if (size_src.is_number_unsigned() || size_src.is_number_integer()) {
      if (size_src.is_number_integer() && size_src.get<int64_t>() < 0)
        return Error(ErrorCode::invalid_input, where + ": negative size for " + f.path);
      f.size = size_src.get<uint64_t>();
    }
    if (f.size > options_.max_file_bytes)
      return Error(ErrorCode::invalid_input, where + ": " + f.path + " claims " + std::to_string(f.size) +
                                                 " bytes, over the limit of " +
                                                 std::to_string(options_.max_file_bytes));
    if (lfs) {
      for (const char* key : {"sha256", "oid"})
        if (lfs->contains(key) && (*lfs)[key].is_string()) {
          std::string v = (*lfs)[key];
          if (v.starts_with("sha256:")) v = v.substr(7);
          if (is_sha256_hex(v)) f.sha256 = lowercase(v);
        }
    }
    listing.files.push_back(std::move(f));
  }
  return listing;
}

}  // namespace xervo::library
