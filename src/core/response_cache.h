// ResponseCache: byte values under 128-bit digests of their key material, in two tiers. The memory
// tier is an LRU bounded in bytes; the disk tier keeps one zstd file per entry under `dir`
// (written to a temporary name and renamed, so a reader never sees half an entry), bounded in
// bytes (oldest first out) and by a TTL. A disk entry is checked (magic, digest, length, checksum)
// before it is used: a corrupt or truncated one is a miss and is removed, never an error.
// Identical calls in flight at once compute once: `compute_once` makes later callers wait for the
// first one's value. A shared tier (core/cache_tier.h), when the process installed one, is asked
// after both miss and written with every put. Thread-safe; disk and shared-tier I/O run outside the lock.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/cache_tier.h"
#include "xervo/cache.h"

namespace xervo {

class ResponseCache {
 public:
  using Digest = std::array<uint64_t, 2>;  // XXH3-128 of the key material
  static Digest digest(std::string_view material);
  static std::string to_hex(const Digest& d);

  // `options.dir` must be set for a disk tier (the runtime fills XERVO_HOME/cache); the folder is
  // created on first write and scanned now, so its entries count against disk_bytes.
  explicit ResponseCache(CacheOptions options);

  // The value under `key`: memory first, then disk (a disk hit is promoted to memory).
  std::optional<std::string> get(const Digest& key);
  // Keeps `value` in both tiers (too large: in neither).
  void put(const Digest& key, std::string value);

  // The value for `key` as `policy` allows: a hit, else the value an identical call in flight
  // produces (waited for), else `compute()`'s, kept when it returns one and policy.write. `hit` says
  // whether the value came from the cache or another call (true) or from this call (false).
  // `compute` returning nullopt (a failure, a cancelled call) keeps nothing; waiters then compute
  // on their own.
  std::optional<std::string> compute_once(const Digest& key, const CachePolicy& policy,
                                          const std::function<std::optional<std::string>()>& compute,
                                          bool* hit);

  // Runs `compute` unless an identical call (same key) is in flight, in which case it waits for that
  // one and returns its value with *joined = true. No lookup, nothing kept: for callers that cache
  // the parts of an answer themselves (embeddings, per input).
  std::optional<std::string> join_or_run(const Digest& key,
                                         const std::function<std::optional<std::string>()>& compute,
                                         bool* joined);

  CacheStats stats() const;
  void clear();  // both tiers
  const CacheOptions& options() const { return options_; }

 private:
  struct DigestHash {
    size_t operator()(const Digest& d) const {
      return static_cast<size_t>(d[0] ^ (d[1] * 0x9e3779b97f4a7c15ull));
    }
  };
  struct MemoryEntry {
    Digest key;
    std::string value;
  };
  struct DiskEntry {
    uint64_t bytes = 0;
    int64_t created = 0;  // unix seconds
  };
  struct Flight {
    bool done = false;
    std::optional<std::string> value;
    std::condition_variable cv;
  };

  std::optional<std::string> memory_get_locked(const Digest& key);
  void memory_put_locked(const Digest& key, std::string value);
  std::optional<std::string> disk_get(const Digest& key);
  void disk_put(const Digest& key, const std::string& value);
  void disk_scan();
  void disk_trim_locked(std::vector<std::filesystem::path>* remove);
  void disk_drop(const Digest& key, const std::filesystem::path& file, bool corrupt);
  std::filesystem::path file_for(const Digest& key) const;
  bool disk_enabled() const { return options_.disk_bytes > 0 && !options_.dir.empty(); }

  std::optional<std::string> shared_get(const Digest& key);

  const CacheOptions options_;
  const std::shared_ptr<SharedCacheTier> shared_ = installed_shared_cache_tier();  // null: none
  mutable std::mutex mu_;
  std::list<MemoryEntry> lru_;  // most recent first
  std::unordered_map<Digest, std::list<MemoryEntry>::iterator, DigestHash> memory_;
  uint64_t memory_bytes_ = 0;
  std::map<Digest, DiskEntry> disk_;
  uint64_t disk_bytes_ = 0;
  std::map<Digest, std::shared_ptr<Flight>> flights_;
  CacheStats stats_;
};

}  // namespace xervo
