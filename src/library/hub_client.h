// The Hugging Face Hub client of the library: search (cached in cache/hub.db with a TTL), a repo's
// file listing at a revision with LFS sha256, and resumable downloads into *.incomplete files.
// Listings are hostile input: names are checked before any path is built from them.
// Thread-safety: a HubClient may be used from several threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"
#include "xervo/library.h"

namespace xervo::net {
class HttpClient;
}

namespace xervo::library {

// "hf:ORG/REPO[:QUANT|/FILE.gguf][@REVISION]" parsed.
struct HubRef {
  std::string repo;      // "ORG/REPO"
  std::string quant;     // "Q4_K_M" (upper case), may be empty
  std::string file;      // exact file path in the repo, may be empty
  std::string revision;  // empty = main
};
Result<HubRef> parse_hub_ref(std::string_view text);

struct HubFileEntry {
  std::string path;
  uint64_t size = 0;
  std::string sha256;  // LFS oid; empty when the listing has none
};

struct HubListing {
  std::string revision;  // the commit sha the listing is for
  std::vector<HubFileEntry> files;
};

// Chooses the GGUF file a ref asks for among `files`: the exact file, else the one whose name
// carries the quant tag (the first part of a split model, "-00001-of-"), else, without a tag,
// Q4_K_M, then the only GGUF. Errors list what is available.
Result<HubFileEntry> pick_gguf_file(const HubRef& ref, const std::vector<HubFileEntry>& files);

std::string lowercase(std::string_view text);

struct DownloadProgress {
  uint64_t bytes_done = 0;  // of this file, resumed part included
  uint64_t bytes_total = 0;
};

class HubClient {
 public:
  explicit HubClient(const LibraryOptions& options);
  ~HubClient();

  Result<std::vector<HubModelInfo>> search(std::string_view text, int limit);
  Result<HubListing> list_files(std::string_view repo, std::string_view revision);
  // Downloads repo/resolve/revision/file into `incomplete`, resuming from its current size
  // (Range); checks size and sha256 (deleting the file on mismatch, both hashes in the error).
  // `on_progress` is called from this thread; returning false or `cancel` stops (file kept).
  Result<void> download_file(std::string_view repo, std::string_view revision, const HubFileEntry& file,
                             const std::filesystem::path& incomplete,
                             const std::function<bool(const DownloadProgress&)>& on_progress,
                             const std::atomic<bool>* cancel);

 private:
  Result<std::string> get_json_text(const std::string& url);
  std::string token() const;
  Error http_error(int status, const std::string& what, const std::string& body) const;

  LibraryOptions options_;
  std::shared_ptr<net::HttpClient> http_;
  std::mutex cache_mutex_;
};

}  // namespace xervo::library
