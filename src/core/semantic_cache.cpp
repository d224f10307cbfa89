#include "core/semantic_cache.h"

#include <algorithm>
#include <cmath>

#include "core/log.h"

namespace xervo {
namespace {

// Every bucket's index may hold this many entries; max_entries (at most this) is what bounds them.
constexpr size_t kIndexCapacity = 1'000'000;

std::optional<std::vector<float>> normalized(std::span<const float> v) {
  if (v.empty()) return std::nullopt;
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  norm = std::sqrt(norm);
  if (!std::isfinite(norm) || norm == 0) return std::nullopt;
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i] / norm);
  return out;
}

}  // namespace

SemanticCache::SemanticCache(size_t max_entries, size_t flat_limit)
    : flat_limit_(flat_limit), max_entries_(std::min(max_entries, kIndexCapacity)) {}

std::optional<SemanticCache::Match> SemanticCache::nearest(const Digest& bucket,
                                                           std::span<const float> vector, float threshold) {
  auto unit = normalized(vector);
  if (!unit) return std::nullopt;
  std::lock_guard lock(mu_);
  auto b = buckets_.find(bucket);
  if (b == buckets_.end()) return std::nullopt;
  auto hit = b->second.index->nearest(*unit);
  if (!hit || hit->similarity < threshold) return std::nullopt;
  auto e = entries_.find(hit->id);
  if (e == entries_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, e->second.lru);
  return Match{hit->id, e->second.answer, std::min(hit->similarity, 1.0f)};
}

void SemanticCache::insert(const Digest& bucket, std::span<const float> vector, const Digest& answer) {
  auto unit = normalized(vector);
  if (!unit) return;
  std::lock_guard lock(mu_);
  if (max_entries_ == 0) return;
  if (auto b = buckets_.find(bucket); b != buckets_.end()) {
    if (b->second.index->dimensions() != unit->size()) return;
    if (auto old = b->second.by_answer.find(answer); old != b->second.by_answer.end())
      erase_locked(old->second);  // the same answer computed again: its prompt's vector is replaced
  }
  while (entries_.size() >= max_entries_) {
    erase_locked(lru_.back());
    ++stats_.evictions;
  }
  Bucket& b = buckets_[bucket];
  if (!b.index) b.index = std::make_unique<VectorIndex>(unit->size(), kIndexCapacity, flat_limit_);
  const uint64_t id = next_id_++;
  if (!b.index->add(id, *unit)) {
    if (b.index->size() == 0) buckets_.erase(bucket);
    return;  // out of memory in the graph: not remembered
  }
  b.by_answer[answer] = id;
  lru_.push_front(id);
  entries_.emplace(id, Entry{bucket, answer, lru_.begin()});
}

void SemanticCache::erase_locked(uint64_t id) {
  auto e = entries_.find(id);
  if (e == entries_.end()) return;
  if (auto b = buckets_.find(e->second.bucket); b != buckets_.end()) {
    b->second.index->remove(id);
    b->second.by_answer.erase(e->second.answer);
    if (b->second.index->size() == 0) buckets_.erase(b);
  }
  lru_.erase(e->second.lru);
  entries_.erase(e);
}

void SemanticCache::trim_locked() {
  while (entries_.size() > max_entries_) {
    erase_locked(lru_.back());
    ++stats_.evictions;
  }
}

void SemanticCache::forget(uint64_t id) {
  std::lock_guard lock(mu_);
  if (!entries_.count(id)) return;
  erase_locked(id);
  ++stats_.evictions;
}

void SemanticCache::set_max_entries(size_t max_entries) {
  std::lock_guard lock(mu_);
  max_entries_ = std::min(max_entries, kIndexCapacity);
  trim_locked();
}

size_t SemanticCache::max_entries() const {
  std::lock_guard lock(mu_);
  return max_entries_;
}

void SemanticCache::clear() {
  std::lock_guard lock(mu_);
  entries_.clear();
  lru_.clear();
  buckets_.clear();
}

void SemanticCache::count_hit() {
  std::lock_guard lock(mu_);
  ++stats_.hits;
}

void SemanticCache::count_miss() {
  std::lock_guard lock(mu_);
  ++stats_.misses;
}

uint64_t SemanticCache::count_error() {
  std::lock_guard lock(mu_);
  return ++stats_.errors;
}

CacheSemanticStats SemanticCache::stats() const {
  std::lock_guard lock(mu_);
  CacheSemanticStats s = stats_;
  s.entries = entries_.size();
  return s;
}

// ---------------------------------------------------------------------------------------------------
std::shared_ptr<SemanticCache> SemanticCaches::for_alias(const std::string& alias, size_t max_entries) {
  std::lock_guard lock(mu_);
  auto& cache = caches_[alias];
  if (!cache)
    cache = std::make_shared<SemanticCache>(max_entries);
  else if (cache->max_entries() != max_entries)
    cache->set_max_entries(max_entries);
  return cache;
}

CacheSemanticStats SemanticCaches::stats() const {
  std::lock_guard lock(mu_);
  CacheSemanticStats total;
  for (const auto& [alias, cache] : caches_) {
    const auto s = cache->stats();
    total.hits += s.hits;
    total.misses += s.misses;
    total.errors += s.errors;
    total.entries += s.entries;
    total.evictions += s.evictions;
  }
  return total;
}

void SemanticCaches::clear() {
  std::lock_guard lock(mu_);
  for (const auto& [alias, cache] : caches_) cache->clear();
}

// ---------------------------------------------------------------------------------------------------
SemanticLookup::SemanticLookup(const SemanticHook* hook, std::string text, std::string material,
                               CachePolicy policy, std::stop_token cancel)
    : hook_(hook && hook->cache && hook->embed && !text.empty() ? hook : nullptr),
      text_(std::move(text)),
      material_(std::move(material)),
      policy_(policy),
      cancel_(std::move(cancel)) {}

bool SemanticLookup::embed() {
  if (tried_) return vector_.has_value();
  tried_ = true;
  auto r = hook_->embed(text_, policy_, cancel_);
  if (!r.ok() || r->values.empty()) {
    if (cancel_.stop_requested()) return false;  // the call is over; nothing went wrong
    // Longer than the embedder's context: not compared at all (its beginning alone could match a
    // prompt that differs further on). A miss, not a failure.
    if (!r.ok() && r.error().code() == ErrorCode::context_overflow) return false;
    const uint64_t n = hook_->cache->count_error();
    if ((n & (n - 1)) == 0)  // the 1st, 2nd, 4th, 8th ... failure: a broken embedder does not flood the log
      spdlog::warn("semantic cache of {}: embedding the prompt through {} failed ({}); a miss ({} so far)",
                   hook_->alias, hook_->embed_alias,
                   r.ok() ? std::string("no vector") : r.error().to_string(), n);
    return false;
  }
  vector_ = std::move(*r);
  std::string m = "semantic/1|" + std::to_string(vector_->identity.size()) + ":" + vector_->identity;
  m += material_;
  bucket_ = ResponseCache::digest(m);
  return true;
}

std::optional<std::string> SemanticLookup::find(ResponseCache& answers, double* similarity) {
  if (!hook_) return std::nullopt;
  if (!embed()) {
    if (!cancel_.stop_requested()) hook_->cache->count_miss();
    return std::nullopt;
  }
  // An entry whose answer the response cache dropped is forgotten and the next nearest tried.
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto match = hook_->cache->nearest(bucket_, vector_->values, hook_->threshold);
    if (!match) break;
    if (auto value = answers.get(match->answer)) {
      hook_->cache->count_hit();
      *similarity = match->similarity;
      return value;
    }
    hook_->cache->forget(match->id);
  }
  hook_->cache->count_miss();
  return std::nullopt;
}

void SemanticLookup::remember(const ResponseCache::Digest& answer) {
  if (!hook_ || !embed()) return;
  hook_->cache->insert(bucket_, vector_->values, answer);
}

}  // namespace xervo
