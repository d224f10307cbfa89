#include "core/vector_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <stdexcept>

namespace xervo {
namespace {

// HNSW parameters: hnswlib's defaults for M (links per node) and a construction and search breadth
// that find the true nearest neighbour of a near-duplicate prompt in every case the tests measure.
constexpr size_t kLinks = 16;
constexpr size_t kConstructionBreadth = 100;
constexpr size_t kSearchBreadth = 64;

}  // namespace

struct VectorIndex::Engine {
  explicit Engine(size_t dimensions) : space(dimensions) {}
  hnswlib::InnerProductSpace space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;
  std::vector<uint8_t> in_graph;  // per slot: 0 not in the graph, 1 live there, 2 marked deleted
  bool graph_failed = false;      // building it ran out of memory
};

VectorIndex::VectorIndex(size_t dimensions, size_t capacity, size_t flat_limit)
    : dimensions_(dimensions),
      capacity_(capacity),
      flat_limit_(std::max<size_t>(flat_limit, 1)),
      engine_(std::make_unique<Engine>(dimensions)) {}

VectorIndex::~VectorIndex() = default;

bool VectorIndex::uses_graph() const { return engine_->graph != nullptr; }

float VectorIndex::similarity(std::span<const float> a, const float* b) const {
  // hnswlib's inner-product distance is 1 - a.b, computed with its SIMD kernels.
  return 1.0f - engine_->space.get_dist_func()(a.data(), b, engine_->space.get_dist_func_param());
}

bool VectorIndex::add(uint64_t id, std::span<const float> unit) {
  if (unit.size() != dimensions_ || dimensions_ == 0 || id == kFree) return false;
  if (slot_of_.size() >= capacity_ || slot_of_.count(id)) return false;
  const bool reused = !free_slots_.empty();
  const auto slot = reused ? free_slots_.back() : static_cast<uint32_t>(slot_ids_.size());
  if (!reused) {
    data_.resize(data_.size() + dimensions_);
    slot_ids_.push_back(kFree);
  }
  std::copy(unit.begin(), unit.end(), data_.begin() + static_cast<ptrdiff_t>(slot) * dimensions_);
  if (engine_->graph && !graph_add(slot)) {
    if (!reused) {
      slot_ids_.pop_back();
      data_.resize(data_.size() - dimensions_);
    }
    return false;
  }
  if (reused) free_slots_.pop_back();
  slot_ids_[slot] = id;
  slot_of_.emplace(id, slot);
  if (!engine_->graph && !engine_->graph_failed && slot_of_.size() >= flat_limit_ && !build_graph()) {
    engine_->graph.reset();  // the scan keeps answering; not tried again
    engine_->graph_failed = true;
  }
  return true;
}

bool VectorIndex::remove(uint64_t id) {
  auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return false;
  const uint32_t slot = it->second;
  slot_of_.erase(it);
  slot_ids_[slot] = kFree;
  free_slots_.push_back(slot);
  if (engine_->graph && engine_->in_graph[slot] == 1) {
    engine_->graph->markDelete(slot);
    engine_->in_graph[slot] = 2;
  }
  return true;
}

std::optional<VectorIndex::Hit> VectorIndex::nearest(std::span<const float> unit) const {
  if (unit.size() != dimensions_ || slot_of_.empty()) return std::nullopt;
  if (engine_->graph) {
    auto found = engine_->graph->searchKnn(unit.data(), 1);
    if (found.empty()) return std::nullopt;
    const auto slot = static_cast<uint32_t>(found.top().second);
    return Hit{slot_ids_[slot], 1.0f - found.top().first};
  }
  std::optional<Hit> best;
  for (uint32_t s = 0; s < slot_ids_.size(); ++s) {
    if (slot_ids_[s] == kFree) continue;
    const float sim = similarity(unit, data_.data() + static_cast<ptrdiff_t>(s) * dimensions_);
    if (!best || sim > best->similarity) best = Hit{slot_ids_[s], sim};
  }
  return best;
}

bool VectorIndex::build_graph() {
  try {
    const size_t room = std::min(capacity_, std::max(slot_ids_.size(), flat_limit_) * 2);
    engine_->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(&engine_->space, room, kLinks,
                                                                       kConstructionBreadth);
    engine_->graph->setEf(kSearchBreadth);
    engine_->in_graph.assign(slot_ids_.size(), 0);
    for (uint32_t s = 0; s < slot_ids_.size(); ++s)
      if (slot_ids_[s] != kFree && !graph_add(s)) return false;
    return true;
  } catch (const std::exception&) {
    return false;  // out of memory
  }
}

// Adds slot `slot` (its vector already in data_) to the graph: a slot the graph has seen before is
// re-linked under its old label (hnswlib unmarks and updates it), so the graph never outgrows the
// slots. Grows the graph's storage by doubling, up to capacity.
bool VectorIndex::graph_add(uint32_t slot) {
  auto& g = *engine_->graph;
  try {
    if (engine_->in_graph.size() <= slot) engine_->in_graph.resize(slot + 1, 0);
    if (engine_->in_graph[slot] == 0 && g.cur_element_count >= g.max_elements_) {
      const size_t grown = std::min(capacity_, std::max<size_t>(g.max_elements_ * 2, 16));
      if (grown <= g.max_elements_) return false;
      g.resizeIndex(grown);
    }
    g.addPoint(data_.data() + static_cast<ptrdiff_t>(slot) * dimensions_, slot);
    engine_->in_graph[slot] = 1;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

uint64_t VectorIndex::bytes() const {
  uint64_t total = data_.capacity() * sizeof(float) + slot_ids_.capacity() * sizeof(uint64_t);
  if (const auto& g = engine_->graph) {
    total += g->max_elements_ * g->size_data_per_element_;
    for (size_t i = 0; i < g->cur_element_count; ++i)
      if (g->element_levels_[i] > 0) total += g->size_links_per_element_ * g->element_levels_[i];
  }
  return total;
}

}  // namespace xervo
