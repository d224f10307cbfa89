// VectorIndex: the flat scan and the HNSW graph find the same nearest neighbour for near-duplicate
// queries (what the semantic cache asks), the switch happens at flat_limit, and the index stays
// within its capacity and its memory whatever the churn.
#include "core/vector_index.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace xervo {
namespace {

std::vector<float> unit(std::vector<float> v) {
  double n = 0;
  for (float x : v) n += x * x;
  for (float& x : v) x = static_cast<float>(x / std::sqrt(n));
  return v;
}

std::vector<float> random_unit(std::mt19937& rng, size_t dims) {
  std::normal_distribution<float> d(0, 1);
  std::vector<float> v(dims);
  for (float& x : v) x = d(rng);
  return unit(v);
}

// `v` moved a little: cosine about 0.98 to it, far closer than to any other random vector.
std::vector<float> near(std::mt19937& rng, const std::vector<float>& v) {
  std::normal_distribution<float> d(0, 0.2f / std::sqrt(static_cast<float>(v.size())));
  std::vector<float> out = v;
  for (float& x : out) x += d(rng);
  return unit(out);
}

TEST(VectorIndex, FlatAndGraphFindTheSameNearestNeighbour) {
  constexpr size_t kDims = 96, kCount = 3000;
  std::mt19937 rng(7);
  VectorIndex flat(kDims, kCount, /*flat_limit=*/kCount + 1);
  VectorIndex graph(kDims, kCount, /*flat_limit=*/1);
  std::vector<std::vector<float>> stored;
  for (size_t i = 0; i < kCount; ++i) {
    stored.push_back(random_unit(rng, kDims));
    ASSERT_TRUE(flat.add(i, stored.back()));
    ASSERT_TRUE(graph.add(i, stored.back()));
  }
  EXPECT_FALSE(flat.uses_graph());
  EXPECT_TRUE(graph.uses_graph());
  for (size_t q = 0; q < 500; ++q) {
    const size_t target = (q * 7919) % kCount;
    auto query = near(rng, stored[target]);
    auto a = flat.nearest(query), b = graph.nearest(query);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->id, target);
    EXPECT_EQ(b->id, target);
    EXPECT_NEAR(a->similarity, b->similarity, 1e-5);
    EXPECT_GT(a->similarity, 0.95f);
  }
}

TEST(VectorIndex, ScansBelowTheFlatLimitAndBuildsTheGraphAtIt) {
  std::mt19937 rng(1);
  VectorIndex index(16, 100, /*flat_limit=*/10);
  std::vector<std::vector<float>> stored;
  for (uint64_t i = 0; i < 9; ++i) {
    stored.push_back(random_unit(rng, 16));
    ASSERT_TRUE(index.add(i, stored.back()));
  }
  EXPECT_FALSE(index.uses_graph());
  stored.push_back(random_unit(rng, 16));
  ASSERT_TRUE(index.add(9, stored.back()));
  EXPECT_TRUE(index.uses_graph());
  for (uint64_t i = 0; i < 10; ++i) {  // every entry from before the switch is in the graph
    auto hit = index.nearest(stored[i]);
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->id, i);
    EXPECT_NEAR(hit->similarity, 1.0f, 1e-5);
  }
}

TEST(VectorIndex, RefusesPastCapacityWrongDimensionsAndDuplicateIds) {
  std::mt19937 rng(2);
  VectorIndex index(8, 3, 2);
  for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(index.add(i, random_unit(rng, 8)));
  EXPECT_FALSE(index.add(3, random_unit(rng, 8)));
  EXPECT_EQ(index.size(), 3u);
  ASSERT_TRUE(index.remove(0));
  EXPECT_FALSE(index.add(1, random_unit(rng, 8)));  // id already there
  EXPECT_FALSE(index.add(4, random_unit(rng, 7)));  // wrong dimension
  EXPECT_FALSE(index.nearest(random_unit(rng, 9)));
  EXPECT_TRUE(index.add(4, random_unit(rng, 8)));
  EXPECT_FALSE(index.remove(0));
}

// Churn through a full index: removed entries are never returned, new ones are found, and memory
// stays what the first fill used (slots and graph labels are reused).
TEST(VectorIndex, ChurnReusesSlotsAndNeverReturnsARemovedEntry) {
  constexpr size_t kDims = 32, kCapacity = 200;
  for (size_t flat_limit : {size_t{1000}, size_t{50}}) {
    SCOPED_TRACE(flat_limit);
    std::mt19937 rng(3);
    VectorIndex index(kDims, kCapacity, flat_limit);
    std::vector<std::vector<float>> vectors;
    for (uint64_t i = 0; i < kCapacity; ++i) {
      vectors.push_back(random_unit(rng, kDims));
      ASSERT_TRUE(index.add(i, vectors.back()));
    }
    const uint64_t full = index.bytes();
    for (uint64_t i = kCapacity; i < 20 * kCapacity; ++i) {
      const uint64_t oldest = i - kCapacity;
      ASSERT_TRUE(index.remove(oldest));
      auto gone = index.nearest(vectors[oldest]);
      ASSERT_TRUE(gone);
      EXPECT_NE(gone->id, oldest);
      vectors.push_back(random_unit(rng, kDims));
      ASSERT_TRUE(index.add(i, vectors.back()));
      auto found = index.nearest(near(rng, vectors.back()));
      ASSERT_TRUE(found);
      EXPECT_EQ(found->id, i);
    }
    EXPECT_EQ(index.size(), kCapacity);
    EXPECT_LE(index.bytes(), full + full / 10);
  }
}

TEST(VectorIndex, EmptyIndexHasNoNearest) {
  VectorIndex index(4, 10, 2);
  EXPECT_FALSE(index.nearest(std::vector<float>{1, 0, 0, 0}));
  ASSERT_TRUE(index.add(1, std::vector<float>{1, 0, 0, 0}));
  ASSERT_TRUE(index.remove(1));
  EXPECT_FALSE(index.nearest(std::vector<float>{1, 0, 0, 0}));
}

}  // namespace
}  // namespace xervo
