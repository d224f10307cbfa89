// Where the semantic cache's index should switch from a flat scan to the HNSW graph: the time of one
// nearest-neighbour query (and of one insertion) at each size, for both, on random unit vectors of
// the embedder's width (384: all-MiniLM-L6-v2). Queries are near-duplicates of stored vectors (what
// a cache hit looks like), and each answer is checked against the scan's.
//   build/bench/cache/xervo_bench_semantic_index [--dims 384] [--queries 2000]
// Prints a markdown table; docs/cache.md quotes it.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "core/vector_index.h"

namespace {

using Clock = std::chrono::steady_clock;

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

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("flat scan against HNSW graph for the semantic cache's index");
  size_t dims = 384, queries = 2000;
  std::vector<size_t> sizes = {128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
  app.add_option("--dims", dims, "vector width");
  app.add_option("--queries", queries, "queries per size");
  app.add_option("--sizes", sizes, "entry counts to measure");
  CLI11_PARSE(app, argc, argv);

  std::printf("| entries | flat query (us) | HNSW query (us) | HNSW insert (us) | HNSW agrees |\n");
  std::printf("|---:|---:|---:|---:|---:|\n");
  for (size_t n : sizes) {
    std::mt19937 rng(static_cast<unsigned>(n));
    std::vector<std::vector<float>> stored;
    for (size_t i = 0; i < n; ++i) stored.push_back(random_unit(rng, dims));
    xervo::VectorIndex flat(dims, n, n + 1);
    xervo::VectorIndex graph(dims, n, 1);
    for (size_t i = 0; i < n; ++i) flat.add(i, stored[i]);
    auto t0 = Clock::now();
    for (size_t i = 0; i < n; ++i) graph.add(i, stored[i]);
    const double insert = micros(Clock::now() - t0) / static_cast<double>(n);

    std::normal_distribution<float> noise(0, 0.2f / std::sqrt(static_cast<float>(dims)));
    std::vector<std::vector<float>> qs;
    for (size_t q = 0; q < queries; ++q) {
      auto v = stored[(q * 7919) % n];
      for (float& x : v) x += noise(rng);
      qs.push_back(unit(v));
    }
    std::vector<uint64_t> expected;
    t0 = Clock::now();
    for (const auto& q : qs) expected.push_back(flat.nearest(q)->id);
    const double flat_us = micros(Clock::now() - t0) / static_cast<double>(queries);
    size_t agree = 0;
    t0 = Clock::now();
    for (size_t q = 0; q < qs.size(); ++q) agree += graph.nearest(qs[q])->id == expected[q];
    const double graph_us = micros(Clock::now() - t0) / static_cast<double>(queries);
    std::printf("| %zu | %.1f | %.1f | %.1f | %.1f%% |\n", n, flat_us, graph_us, insert,
                100.0 * static_cast<double>(agree) / static_cast<double>(queries));
    std::fflush(stdout);
  }
  return 0;
}
