// VectorIndex: the nearest of a set of unit vectors (one dimension) by cosine similarity, for the
// semantic cache. Below `flat_limit` entries it scans them all (faster at that size: no graph to
// walk); when it reaches flat_limit it builds an HNSW graph (hnswlib, Debian's libhnswlib-dev) and
// answers from the graph from then on. Bounded: at most `capacity` entries (add() refuses past it;
// the owner evicts first), and the slot of a removed entry is reused by the next one (hnswlib
// re-links a re-added label), so memory never grows past capacity whatever the churn.
// Not thread-safe: the owner (SemanticCache) serialises calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace xervo {

class VectorIndex {
 public:
  // From bench/cache/semantic_index.cpp (docs/cache.md): on 384-wide vectors a graph query beats the
  // scan from about 2,000 entries, but a graph insertion (every miss makes one) costs 1.3 to 2 graph
  // queries where the scan's is free; with half the lookups missing, the graph wins from about 10,000.
  static constexpr size_t kDefaultFlatLimit = 8192;

  VectorIndex(size_t dimensions, size_t capacity, size_t flat_limit = kDefaultFlatLimit);
  ~VectorIndex();
  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  // Keeps `unit` (normalised by the caller) under `id`. False when the index is full, the id is
  // already there, the dimension differs, or the graph could not grow (out of memory).
  bool add(uint64_t id, std::span<const float> unit);
  bool remove(uint64_t id);  // false when the id is not there

  struct Hit {
    uint64_t id = 0;
    float similarity = 0;  // cosine, in [-1, 1]
  };
  // The closest entry to `unit`; nullopt when the index is empty or the dimension differs. With the
  // graph the answer is approximate (HNSW); close neighbours, what the cache asks for, are found.
  std::optional<Hit> nearest(std::span<const float> unit) const;

  size_t size() const { return slot_of_.size(); }
  size_t dimensions() const { return dimensions_; }
  bool uses_graph() const;
  uint64_t bytes() const;  // vectors and graph held

 private:
  struct Engine;  // hnswlib's space (its SIMD inner product, for the scan too) and graph
  static constexpr uint64_t kFree = ~uint64_t{0};

  float similarity(std::span<const float> a, const float* b) const;
  bool build_graph();
  bool graph_add(uint32_t slot);

  const size_t dimensions_;
  const size_t capacity_;
  const size_t flat_limit_;
  std::vector<float> data_;         // slot s holds data_[s * dimensions_ ...]
  std::vector<uint64_t> slot_ids_;  // the id in each slot, kFree when empty
  std::vector<uint32_t> free_slots_;
  std::unordered_map<uint64_t, uint32_t> slot_of_;
  std::unique_ptr<Engine> engine_;  // the graph in it is built at flat_limit entries; labels are slots
};

}  // namespace xervo
