// The Hugging Face Hub client of the library: search (cached in cache/hub.db with a TTL), a repo's
// file listing at a revision with LFS sha256, and resumable downloads into *.incomplete files.
// Every request's retries (429 with its Retry-After, 5xx, failed connections) are
// net::send_with_retry's. Listings are hostile input: names are checked before any path is built.
// Thread-safety: a HubClient may be used from several threads at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "library/hub_ref.h"
#include "net/retry.h"
#include "xervo/error.h"
#include "xervo/library.h"

namespace xervo::net {
class HttpClient;
}

namespace xervo::library {

class HubClient {
 public:
  explicit HubClient(const LibraryOptions& options);
  ~HubClient();

  Result<std::vector<HubModelInfo>> search(std::string_view text, int limit);
  Result<HubListing> list_files(std::string_view repo, std::string_view revision);
  // Downloads repo/resolve/revision/file into `incomplete`, resuming from its current size
  // (Range), and again from where a connection ended while each try makes progress; checks size
  // and sha256 (deleting the file on mismatch, both hashes in the error). `on_progress` gets this
  // file's bytes on this thread. A stop request or a failure keeps the file to resume, and says so.
  Result<void> download_file(std::string_view repo, std::string_view revision, const HubFileEntry& file,
                             const std::filesystem::path& incomplete,
                             const std::function<void(uint64_t bytes_done)>& on_progress,
                             std::stop_token stop);

  // Retries of one Hub request. A Retry-After past max_total gives up at once (rate_limited).
  net::RetryPolicy retry_policy;

 private:
  enum class FetchEnd { complete, ended_early, range_refused };
  Result<FetchEnd> fetch_range(const std::string& url, const std::string& what, const HubFileEntry& file,
                               const std::filesystem::path& incomplete, uint64_t offset,
                               const std::function<void(uint64_t)>& on_progress, std::stop_token stop);
  Result<std::string> get_json_text(const std::string& url);
  std::string token() const;
  Error http_error(const net::HttpResponse& response, const std::string& what) const;

  LibraryOptions options_;
  std::shared_ptr<net::HttpClient> http_;
  std::mutex cache_mutex_;
};

}  // namespace xervo::library
