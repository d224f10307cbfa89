// The semantic cache of generation aliases (docs/cache.md, "Semantic cache"). For one alias a
// SemanticCache remembers the prompts whose answers the response cache holds, as unit vectors from
// the alias's embed alias, grouped in buckets by everything else that decides the answer (model
// identity, earlier messages, tools, sampling options, the embedder's identity): a later prompt in
// the same bucket whose vector is close enough gets the nearest one's answer, read from the
// response cache under its exact key. It holds no answers itself: an answer the response cache has
// dropped makes its prompt a miss, and the prompt is forgotten. Bounded by an entry count (least
// recently used out first). Every class here is thread-safe; embedding runs outside every lock.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/response_cache.h"
#include "core/vector_index.h"
#include "xervo/error.h"

namespace xervo {

class SemanticCache {
 public:
  using Digest = ResponseCache::Digest;

  explicit SemanticCache(size_t max_entries, size_t flat_limit = VectorIndex::kDefaultFlatLimit);

  struct Match {
    uint64_t id = 0;
    Digest answer{};       // the response cache key of the cached prompt's answer
    float similarity = 0;  // cosine
  };
  // The entry of `bucket` nearest to `vector` when its similarity is at least `threshold` (marked as
  // just used); nullopt otherwise. `vector` need not be normalised.
  std::optional<Match> nearest(const Digest& bucket, std::span<const float> vector, float threshold);
  // Remembers `vector` as the prompt whose answer is kept under `answer` (replacing an entry with the
  // same answer), evicting the least recently used entries past max_entries. A zero vector, or one
  // whose dimension differs from the bucket's, is not kept.
  void insert(const Digest& bucket, std::span<const float> vector, const Digest& answer);
  void forget(uint64_t id);                  // an entry whose answer the response cache no longer has
  void set_max_entries(size_t max_entries);  // a reload changed it: evicts down to it now
  void clear();

  void count_hit();
  void count_miss();
  uint64_t count_error();  // an embedding failure; returns how many so far
  CacheSemanticStats stats() const;
  size_t max_entries() const;

 private:
  struct DigestHash {
    size_t operator()(const Digest& d) const {
      return static_cast<size_t>(d[0] ^ (d[1] * 0x9e3779b97f4a7c15ull));
    }
  };
  struct Entry {
    Digest bucket;
    Digest answer;
    std::list<uint64_t>::iterator lru;
  };
  struct Bucket {
    std::unique_ptr<VectorIndex> index;
    std::unordered_map<Digest, uint64_t, DigestHash> by_answer;
  };

  void erase_locked(uint64_t id);  // REQUIRES: mu_ held
  void trim_locked();

  const size_t flat_limit_;
  mutable std::mutex mu_;
  size_t max_entries_;                                      // GUARDED_BY(mu_)
  uint64_t next_id_ = 1;                                    // GUARDED_BY(mu_)
  std::list<uint64_t> lru_;                                 // most recent first; GUARDED_BY(mu_)
  std::unordered_map<uint64_t, Entry> entries_;             // GUARDED_BY(mu_)
  std::unordered_map<Digest, Bucket, DigestHash> buckets_;  // GUARDED_BY(mu_)
  CacheSemanticStats stats_;                                // GUARDED_BY(mu_)
};

// The semantic caches of a runtime, one per generation alias that has one (created on first use,
// so a reload that adds one needs nothing more).
class SemanticCaches {
 public:
  std::shared_ptr<SemanticCache> for_alias(const std::string& alias, size_t max_entries);
  CacheSemanticStats stats() const;
  void clear();

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<SemanticCache>> caches_;  // GUARDED_BY(mu_)
};

// A prompt's vector, and the identity of the model that made it (key and fingerprint): vectors of
// two models are never compared.
struct PromptVector {
  std::vector<float> values;
  std::string identity;
};
// Embeds one prompt through the alias's embed alias, under the call's cache policy and cancellation.
using PromptEmbedder = std::function<Result<PromptVector>(const std::string& text, const CachePolicy& policy,
                                                          std::stop_token cancel)>;

// What a generation handle needs for its alias's semantic cache.
struct SemanticHook {
  std::shared_ptr<SemanticCache> cache;
  PromptEmbedder embed;
  float threshold = 0.95f;
  std::string alias;        // the generation alias (for logs)
  std::string embed_alias;  // (for logs)
};

// One generation call's use of the semantic cache. `text` is the prompt text that is compared by
// meaning; `material` the rest of the call's key (the canonical request without that text). The
// text is embedded at most once, on first need.
class SemanticLookup {
 public:
  SemanticLookup(const SemanticHook* hook, std::string text, std::string material, CachePolicy policy,
                 std::stop_token cancel);
  bool active() const { return hook_ != nullptr; }
  // The stored answer of the nearest close-enough cached prompt, read from `answers`; its
  // similarity in *similarity. Counts a hit or a miss; an embedding failure is a miss (logged).
  std::optional<std::string> find(ResponseCache& answers, double* similarity);
  // The answer to this call's prompt is now kept under `answer` (embedding it if find() did not).
  void remember(const ResponseCache::Digest& answer);

 private:
  bool embed();  // false when the embedder failed (counted and logged once per power of two)

  const SemanticHook* hook_;
  std::string text_;
  std::string material_;
  CachePolicy policy_;
  std::stop_token cancel_;
  bool tried_ = false;
  std::optional<PromptVector> vector_;
  ResponseCache::Digest bucket_{};
};

}  // namespace xervo
