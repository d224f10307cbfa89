#include "library/hub_client.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/log.h"
#include "library/files.h"
#include "library/sqlite.h"
#include "net/http_client.h"
#include "net/retry.h"

namespace xervo::library {
namespace fs = std::filesystem;

namespace {

bool valid_repo_part(std::string_view s) {
  if (s.empty() || s.size() > 96 || s == "." || s == "..") return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

bool valid_repo(std::string_view repo) {
  auto slash = repo.find('/');
  if (slash == std::string_view::npos) return false;
  return valid_repo_part(repo.substr(0, slash)) && valid_repo_part(repo.substr(slash + 1));
}

// A path inside a repo as a listing names it: relative, no "..", no backslash, no control bytes.
bool valid_repo_path(std::string_view path) {
  if (path.empty() || path.size() > 1024 || path.front() == '/') return false;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (!is_safe_component(path.substr(i, j - i))) return false;
    i = j + 1;
  }
  return true;
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string url_encode_path(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 15]);
    }
  }
  return out;
}

std::string url_encode_query(std::string_view s) {
  std::string out = url_encode_path(s);
  std::string res;
  for (char c : out) {
    if (c == '/')
      res += "%2F";
    else
      res.push_back(c);
  }
  return res;
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && lowercase(s.substr(s.size() - suffix.size())) == lowercase(suffix);
}

// The quant tag as a whole token of the file name ("model.Q4_K_M.gguf", "model-q4_k_m.gguf").
bool name_has_quant(std::string_view path, std::string_view quant) {
  std::string name = lowercase(fs::path(std::string(path)).filename().string());
  std::string q = lowercase(quant);
  size_t pos = 0;
  while ((pos = name.find(q, pos)) != std::string::npos) {
    bool left = pos == 0 || !std::isalnum(static_cast<unsigned char>(name[pos - 1]));
    size_t end = pos + q.size();
    bool right = end >= name.size() || !std::isalnum(static_cast<unsigned char>(name[end])) ||
                 name.compare(end, 5, ".gguf") == 0;
    if (left && right) return true;
    ++pos;
  }
  return false;
}

bool is_split_tail(std::string_view path) {
  std::string name = lowercase(fs::path(std::string(path)).filename().string());
  auto pos = name.find("-of-");
  return pos != std::string::npos && pos >= 6 && name.compare(pos - 6, 6, "-00001") != 0;
}

}  // namespace

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<HubRef> parse_hub_ref(std::string_view text) {
  std::string_view s = text;
  if (s.starts_with("hf:")) s.remove_prefix(3);
  HubRef ref;
  if (auto at = s.rfind('@'); at != std::string_view::npos) {
    ref.revision = std::string(s.substr(at + 1));
    s = s.substr(0, at);
    if (!valid_repo_part(ref.revision))
      return Error(ErrorCode::invalid_input, "bad revision in '" + std::string(text) + "'");
  }
  auto slash = s.find('/');
  if (slash == std::string_view::npos)
    return Error(ErrorCode::invalid_input,
                 "'" + std::string(text) + "' is not a Hub reference: use hf:ORG/REPO[:QUANT|/FILE.gguf]");
  auto second = s.find('/', slash + 1);
  if (second != std::string_view::npos) {
    ref.repo = std::string(s.substr(0, second));
    ref.file = std::string(s.substr(second + 1));
    if (!valid_repo_path(ref.file))
      return Error(ErrorCode::invalid_input, "bad file path in '" + std::string(text) + "'");
  } else if (auto colon = s.find(':'); colon != std::string_view::npos) {
    ref.repo = std::string(s.substr(0, colon));
    ref.quant = std::string(s.substr(colon + 1));
    for (auto& c : ref.quant) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!valid_repo_part(ref.quant))
      return Error(ErrorCode::invalid_input, "bad quant tag in '" + std::string(text) + "'");
  } else {
    ref.repo = std::string(s);
  }
  if (!valid_repo(ref.repo))
    return Error(ErrorCode::invalid_input,
                 "bad repository name in '" + std::string(text) + "': want ORG/REPO");
  return ref;
}

Result<HubFileEntry> pick_gguf_file(const HubRef& ref, const std::vector<HubFileEntry>& files) {
  std::vector<const HubFileEntry*> ggufs;
  for (const auto& f : files)
    if (ends_with_ci(f.path, ".gguf")) ggufs.push_back(&f);
  auto available = [&] {
    std::string list;
    for (auto* f : ggufs) list += (list.empty() ? "" : ", ") + f->path;
    return list.empty() ? std::string("no .gguf files") : list;
  };
  if (!ref.file.empty()) {
    for (auto* f : ggufs)
      if (f->path == ref.file) return *f;
    return Error(ErrorCode::model_not_found,
                 ref.repo + " has no file " + ref.file + " (available: " + available() + ")");
  }
  std::vector<const HubFileEntry*> matches;
  std::string quant = ref.quant.empty() ? "Q4_K_M" : ref.quant;
  for (auto* f : ggufs)
    if (name_has_quant(f->path, quant) && !is_split_tail(f->path)) matches.push_back(f);
  if (matches.empty() && ref.quant.empty()) {
    for (auto* f : ggufs)
      if (!is_split_tail(f->path)) matches.push_back(f);
    if (matches.size() > 1)
      return Error(ErrorCode::invalid_input,
                   ref.repo + " has several GGUF files; name one with :QUANT or /FILE (" + available() + ")");
  }
  if (matches.empty())
    return Error(ErrorCode::model_not_found,
                 ref.repo + " has no GGUF file for " + quant + " (available: " + available() + ")");
  std::sort(matches.begin(), matches.end(), [](auto* a, auto* b) { return a->path < b->path; });
  return *matches.front();
}

HubClient::HubClient(const LibraryOptions& options) : options_(options), http_(net::HttpClient::shared()) {}

HubClient::~HubClient() = default;

std::string HubClient::token() const {
  const char* t = std::getenv(options_.hub_token_env.c_str());
  return t ? t : "";
}

Error HubClient::http_error(int status, const std::string& what, const std::string& body) const {
  std::string excerpt = body.substr(0, 200);
  for (auto& c : excerpt)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  std::string detail =
      what + ": HTTP " + std::to_string(status) + (excerpt.empty() ? "" : " (" + excerpt + ")");
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
    case 429:
      return Error(ErrorCode::rate_limited,
                   detail + "; the Hub is rate limiting: retry later or set a token");
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
  net::RetryPolicy policy;
  policy.max_attempts = 3;
  policy.base_delay = std::chrono::milliseconds(200);
  policy.max_total = std::chrono::milliseconds(30000);
  auto resp = net::send_with_retry(*http_, req, policy);
  if (!resp) return Error(resp.error().code(), "Hugging Face Hub: " + resp.error().message());
  if (!resp->success()) return http_error(resp->status, net::redact_url(url), resp->body);
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
    auto db = Database::open(cache_path, options_.busy_timeout_ms);
    if (db &&
        db->exec("PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS search_cache(url TEXT PRIMARY KEY, "
                 "body TEXT NOT NULL, fetched_at INTEGER NOT NULL)")) {
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
  if (!cached) {
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
    // Only GGUF entries are ever used; others may be odd without harm.
    if (!ends_with_ci(f.path, ".gguf")) {
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

Result<void> HubClient::download_file(std::string_view repo, std::string_view revision,
                                      const HubFileEntry& file, const fs::path& incomplete,
                                      const std::function<bool(const DownloadProgress&)>& on_progress,
                                      const std::atomic<bool>* cancel) {
  if (!valid_repo(repo) || !valid_repo_path(file.path))
    return Error(ErrorCode::invalid_input,
                 "refusing to download unsafe name " + std::string(repo) + "/" + file.path);
  if (file.sha256.empty())
    return Error(ErrorCode::invalid_input, std::string(repo) + "/" + file.path +
                                               ": the listing has no sha256 (not an LFS file); refusing an "
                                               "unverifiable download");
  if (file.size == 0 || file.size > options_.max_file_bytes)
    return Error(ErrorCode::invalid_input,
                 std::string(repo) + "/" + file.path + ": implausible size " + std::to_string(file.size));
  std::string url = options_.hub_endpoint + "/" + url_encode_path(repo) + "/resolve/" +
                    url_encode_query(revision.empty() ? "main" : revision) + "/" + url_encode_path(file.path);
  std::string what = std::string(repo) + "/" + file.path;

  std::optional<Error> last_error;
  const int max_attempts = 6;
  for (int attempt = 1; attempt <= max_attempts; ++attempt) {
    if (cancel && cancel->load()) return Error(ErrorCode::cancelled, "download of " + what + " cancelled");
    std::error_code ec;
    uint64_t offset = fs::exists(incomplete, ec) ? fs::file_size(incomplete, ec) : 0;
    if (offset > file.size) {
      fs::remove(incomplete, ec);
      offset = 0;
    }
    int fd = ::open(incomplete.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      return Error(ErrorCode::io_error, "cannot open " + incomplete.string() + ": " + std::strerror(errno));
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};

    uint64_t written = offset;
    bool restart = false;
    std::optional<Error> sink_error;
    if (offset < file.size) {
      net::HttpRequest req;
      req.url = url;
      req.connect_timeout = std::chrono::milliseconds(options_.connect_timeout_ms);
      req.idle_timeout = std::chrono::milliseconds(options_.idle_timeout_ms);
      if (offset > 0) req.range_start = offset;
      if (auto t = token(); !t.empty()) req.headers.add("Authorization", "Bearer " + t);
      req.on_response_start = [&](int status, const net::HttpHeaders&) {
        if (status == 200 && offset > 0) {
          // The server ignored Range: start over.
          if (::ftruncate(fd, 0) != 0) return false;
          written = 0;
        } else if (status == 206) {
          if (::ftruncate(fd, static_cast<off_t>(offset)) != 0) return false;
        } else if (status == 200) {
          if (::ftruncate(fd, 0) != 0) return false;
        }
        return true;
      };
      req.on_body = [&](std::string_view chunk) {
        if (cancel && cancel->load()) return false;
        if (written + chunk.size() > file.size) {
          sink_error = Error(ErrorCode::inference_failed, what + ": server sent more than the " +
                                                              std::to_string(file.size) +
                                                              " bytes the listing announced");
          return false;
        }
        if (::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(written)) !=
            static_cast<ssize_t>(chunk.size())) {
          sink_error =
              Error(ErrorCode::io_error, "cannot write " + incomplete.string() + ": " + std::strerror(errno));
          return false;
        }
        written += chunk.size();
        if (on_progress && !on_progress(DownloadProgress{written, file.size})) return false;
        return true;
      };
      auto outcome = http_->perform(req);
      if (sink_error) {
        if (sink_error->code() == ErrorCode::inference_failed) fs::remove(incomplete, ec);
        return *sink_error;
      }
      if (cancel && cancel->load())
        return Error(ErrorCode::cancelled, "download of " + what + " cancelled (kept " +
                                               std::to_string(written) + " bytes to resume)");
      if (!outcome.ok()) {
        if (outcome.error == net::TransportError::cancelled)
          return Error(ErrorCode::cancelled, "download of " + what + " cancelled");
        last_error = Error(net::error_code_for(outcome.error), what + ": " + outcome.message);
        spdlog::warn("download of {} interrupted at {} of {} bytes ({}); resuming", what, written, file.size,
                     outcome.message);
        std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
        continue;
      }
      int status = outcome.response.status;
      if (status == 416) {
        restart = true;
      } else if (!outcome.response.success()) {
        auto err = http_error(status, "download of " + what, outcome.response.body);
        if (status == 429 || status >= 500) {
          last_error = err;
          std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));
          continue;
        }
        return err;
      }
      ::fsync(fd);
    }
    if (restart) {
      fs::remove(incomplete, ec);
      last_error = Error(ErrorCode::inference_failed, what + ": server refused the resume range");
      continue;
    }
    if (written < file.size) {
      last_error =
          Error(ErrorCode::unavailable, what + ": connection ended after " + std::to_string(written) +
                                            " of " + std::to_string(file.size) + " bytes");
      continue;
    }
    auto sha = sha256_file(incomplete);
    if (!sha) return sha.error();
    if (*sha != file.sha256) {
      fs::remove(incomplete, ec);
      return Error(ErrorCode::inference_failed, what + ": sha256 mismatch: expected " + file.sha256 +
                                                    ", got " + *sha + " (the file was deleted; pull again)");
    }
    return {};
  }
  return last_error ? *last_error : Error(ErrorCode::unavailable, what + ": download failed");
}

}  // namespace xervo::library
