// HubClient::download_file: one file of a repository into its .incomplete name, resumable. One
// request's retries are net::send_with_retry's (429 and its Retry-After, 5xx, connections that
// fail before any byte); a connection that ends midway is resumed from where it stopped for as
// long as each try makes progress. A redirect loop or any other final error ends at once.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "core/log.h"
#include "library/fault_points.h"
#include "library/files.h"
#include "library/hub_client.h"
#include "net/http_client.h"

namespace xervo::library {
namespace fs = std::filesystem;

namespace {

// More resumes than a flaky connection needs; each one must have brought bytes.
constexpr int kMaxResumes = 50;

// All of `data` at `offset`, or the errno of the write that failed (a short write is followed by
// another, so ENOSPC and friends are reported as what they are).
Result<void> write_at(int fd, std::string_view data, uint64_t offset, const fs::path& path) {
  while (!data.empty()) {
    ssize_t n = faults::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("cannot write", path, errno);
    }
    if (n == 0) return errno_error("cannot write", path, ENOSPC);
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

uint64_t file_size_or_zero(const fs::path& path) {
  std::error_code ec;
  uint64_t size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

std::string kept_note(const fs::path& incomplete) {
  uint64_t kept = file_size_or_zero(incomplete);
  if (kept == 0) return "";
  return " (kept " + std::to_string(kept) + " bytes in " + incomplete.string() + " to resume)";
}

}  // namespace

Result<HubClient::FetchEnd> HubClient::fetch_range(const std::string& url, const std::string& what,
                                                   const HubFileEntry& file, const fs::path& incomplete,
                                                   uint64_t offset,
                                                   const std::function<void(uint64_t)>& on_progress,
                                                   std::stop_token stop) {
  int fd = ::open(incomplete.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error("cannot open", incomplete, errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  uint64_t written = offset;
  std::optional<Error> sink_error;
  bool oversize = false;
  net::HttpRequest req;
  req.url = url;
  req.connect_timeout = std::chrono::milliseconds(options_.connect_timeout_ms);
  req.idle_timeout = std::chrono::milliseconds(options_.idle_timeout_ms);
  if (offset > 0) req.range_start = offset;
  if (auto t = token(); !t.empty()) req.headers.add("Authorization", "Bearer " + t);
  req.on_response_start = [&](int status, const net::HttpHeaders&) {
    if (status != 200 && status != 206) return true;  // an error body never reaches the file
    // 200 to a range request: the server ignored Range and sends the whole file.
    if (status == 200) written = 0;
    if (::ftruncate(fd, static_cast<off_t>(written)) != 0) {
      sink_error = errno_error("cannot truncate", incomplete, errno);
      return false;
    }
    return true;
  };
  req.on_body = [&](std::string_view chunk) {
    if (written + chunk.size() > file.size) {
      oversize = true;
      sink_error =
          Error(ErrorCode::inference_failed, what + ": server sent more than the " +
                                                 std::to_string(file.size) + " bytes the listing announced");
      return false;
    }
    if (auto r = write_at(fd, chunk, written, incomplete); !r) {
      sink_error = r.error();
      return false;
    }
    written += chunk.size();
    if (on_progress) on_progress(written);
    return true;
  };
  auto on_retry = [&](int attempt, std::chrono::milliseconds delay, std::string_view reason) {
    spdlog::info("download of {}: {}; try {} in {} ms", what, reason, attempt, delay.count());
  };
  auto response = net::send_with_retry(*http_, req, retry_policy, stop, on_retry);
  if (sink_error) {
    if (oversize) {
      std::error_code ec;
      fs::remove(incomplete, ec);
      return *sink_error;
    }
    return Error(sink_error->code(), sink_error->message() + kept_note(incomplete));
  }
  if (stop.stop_requested())
    return Error(ErrorCode::cancelled, "download of " + what + " cancelled" + kept_note(incomplete));
  if (!response) {
    if (written > offset) return FetchEnd::ended_early;  // bytes came: resume from there
    // Not retried by send_with_retry (a redirect loop, TLS, a bad URL) or out of attempts.
    return Error(response.error().code(), what + ": " + response.error().message() + kept_note(incomplete));
  }
  if (response->status == 416) return FetchEnd::range_refused;
  if (!response->success()) return http_error(*response, "download of " + what);
  if (::fsync(fd) != 0) {
    Error e = errno_error("cannot fsync", incomplete, errno);
    return Error(e.code(), e.message() + kept_note(incomplete));
  }
  return written < file.size ? FetchEnd::ended_early : FetchEnd::complete;
}

Result<void> HubClient::download_file(std::string_view repo, std::string_view revision,
                                      const HubFileEntry& file, const fs::path& incomplete,
                                      const std::function<void(uint64_t)>& on_progress,
                                      std::stop_token stop) {
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
  const std::string url = options_.hub_endpoint + "/" + url_encode_path(repo) + "/resolve/" +
                          url_encode_query(revision.empty() ? "main" : revision) + "/" +
                          url_encode_path(file.path);
  const std::string what = std::string(repo) + "/" + file.path;

  bool restarted = false;
  for (int resumes = 0;;) {
    std::error_code ec;
    uint64_t offset = file_size_or_zero(incomplete);
    if (offset > file.size) {
      fs::remove(incomplete, ec);
      offset = 0;
    }
    if (offset == file.size) break;
    if (on_progress && offset > 0) on_progress(offset);
    auto end = fetch_range(url, what, file, incomplete, offset, on_progress, stop);
    if (!end) return end.error();
    if (*end == FetchEnd::complete) break;
    if (*end == FetchEnd::range_refused) {
      if (restarted) return Error(ErrorCode::inference_failed, what + ": server refused the resume range");
      restarted = true;  // what we have does not fit the file any more: start over once
      fs::remove(incomplete, ec);
      continue;
    }
    uint64_t now = file_size_or_zero(incomplete);
    if (now <= offset || ++resumes > kMaxResumes)
      return Error(ErrorCode::unavailable, what + ": connection ended after " + std::to_string(now) + " of " +
                                               std::to_string(file.size) + " bytes" + kept_note(incomplete));
    spdlog::warn("download of {} interrupted at {} of {} bytes; resuming", what, now, file.size);
  }
  auto sha = sha256_file(incomplete);
  if (!sha) return sha.error();
  if (*sha != file.sha256) {
    std::error_code ec;
    fs::remove(incomplete, ec);
    return Error(ErrorCode::inference_failed, what + ": sha256 mismatch: expected " + file.sha256 + ", got " +
                                                  *sha + " (the file was deleted; pull again)");
  }
  return {};
}

}  // namespace xervo::library
