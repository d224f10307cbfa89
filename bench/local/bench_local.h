// The local benchmark: measurements of xervo (through the public API) and of llama.cpp's tools on
// the same files and thread count, printed side by side. Single-threaded driver; the xervo side
// starts its own caller threads.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace xervo::bench {

struct BenchConfig {
  std::filesystem::path generator;  // medium llama generator
  std::filesystem::path embedder;   // small BERT embedder
  std::filesystem::path llama_bin;  // folder of llama-bench and llama-batched-bench
  int threads = 2;
  int prompt_tokens = 512;  // prompt-processing measurement
  int gen_tokens = 128;     // single-stream generation
  int batched_prompt = 32;  // prompt per caller in the concurrent runs
  int batched_gen = 64;     // tokens per caller in the concurrent runs
  int repeats = 3;
};

struct GenerationSpeed {
  double prompt_tps = 0;      // prompt tokens per second
  double generation_tps = 0;  // generated tokens per second, one stream
};

struct AggregateSpeed {
  double generation_tps = 0;  // generated tokens per second over all callers, prompt phase excluded
  double total_tps = 0;       // (prompt + generated tokens) / wall time
};

// xervo through ModelRuntime.
GenerationSpeed xervo_single_stream(const BenchConfig& config);
AggregateSpeed xervo_concurrent_generation(const BenchConfig& config, int callers);
double xervo_embedding_tps(const BenchConfig& config);  // long inputs, tokens per second
// Requests per second of short single-text embeddings: 16 callers at once, then one at a time.
std::pair<double, double> xervo_embedding_concurrency(const BenchConfig& config, int callers);

// llama.cpp's tools (nullopt when a tool fails; the reason goes to stderr).
std::optional<GenerationSpeed> llama_bench_generation(const BenchConfig& config);
std::optional<double> llama_bench_embedding(const BenchConfig& config);
std::optional<AggregateSpeed> llama_batched_bench(const BenchConfig& config, int parallel);

}  // namespace xervo::bench
