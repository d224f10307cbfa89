// The response cache: answers of deterministic calls (embeddings per input, reranks, greedy or
// seeded generations) kept by a hash of what decides them, the model's identity included, in a
// memory tier (LRU, bounded in bytes) and an optional disk tier (zstd files, bounded in bytes, with
// a TTL). Configured by [cache] in xervo.toml; off unless enabled. See docs/cache.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>

namespace xervo {

// What one call may do with the cache (HTTP's Cache-Control: no-cache clears `read`, no-store
// clears `write`).
struct CachePolicy {
  bool read = true;   // answer from the cache when the entry is there
  bool write = true;  // keep this call's answer
};

struct CacheOptions {
  bool enabled = false;
  uint64_t memory_bytes = 256ull << 20;                  // memory tier; 0: none
  uint64_t disk_bytes = 2ull << 30;                      // disk tier; 0: none
  std::chrono::seconds ttl{std::chrono::hours(24 * 7)};  // disk entries older than this are misses
  std::filesystem::path dir;  // disk tier folder; empty: XERVO_HOME/cache (no disk tier without a home)
  int zstd_level = 3;
  uint64_t max_entry_bytes = 64ull << 20;  // larger answers are not kept
};

struct CacheTierStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t entries = 0;
  uint64_t bytes = 0;  // held now (disk: compressed file sizes)
  uint64_t evictions = 0;
  uint64_t corrupt = 0;  // disk entries that failed their checks and were dropped (each also a miss)
};

// The semantic caches of every generation alias that has one, summed.
struct CacheSemanticStats {
  uint64_t hits = 0;       // generations answered with a close enough cached prompt's answer
  uint64_t misses = 0;     // lookups that found none (errors included)
  uint64_t errors = 0;     // prompts the embed alias failed to embed (each also a miss)
  uint64_t entries = 0;    // prompts remembered now
  uint64_t evictions = 0;  // prompts dropped to stay within max_entries, or whose answer was gone
};

struct CacheStats {
  bool enabled = false;
  CacheTierStats memory;
  CacheTierStats disk;
  CacheSemanticStats semantic;
  uint64_t joined = 0;  // calls that waited for an identical call in flight instead of computing
  uint64_t stores = 0;  // answers kept
};

}  // namespace xervo
