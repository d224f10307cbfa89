// xervo_bench_local: runs xervo (public API) and llama.cpp's benchmark tools on the same generated
// models and thread count and prints a table of xervo / llama.cpp ratios. Run by bench/local/run.sh.
//   xervo_bench_local GENERATOR.gguf EMBEDDER.gguf LLAMA_BIN_DIR [THREADS [PARTS [REPEATS]]]
// PARTS: comma-separated subset of single,batched,embed,concurrency (default: all).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "bench_local.h"

namespace {

void row(const char* what, double xervo, std::optional<double> reference, const char* unit) {
  if (reference && *reference > 0)
    std::printf("| %-52s | %10.1f | %10.1f | %5.2f |\n", what, xervo, *reference, xervo / *reference);
  else
    std::printf("| %-52s | %10.1f | %10s | %5s |\n", what, xervo, "n/a", "-");
  (void)unit;
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s GENERATOR.gguf EMBEDDER.gguf LLAMA_BIN_DIR [THREADS [PARTS [REPEATS]]]\n",
                 argv[0]);
    return 2;
  }
  xervo::bench::BenchConfig c;
  c.generator = argv[1];
  c.embedder = argv[2];
  c.llama_bin = argv[3];
  if (argc > 4) c.threads = std::atoi(argv[4]);
  if (c.threads <= 0) c.threads = 2;
  if (argc > 6) c.repeats = std::max(1, std::atoi(argv[6]));
  const std::string parts = argc > 5 ? argv[5] : "single,batched,embed,concurrency";
  auto wants = [&](const char* part) {
    return ("," + parts + ",").find("," + std::string(part) + ",") != std::string::npos;
  };
  try {
    std::printf("threads %d; generator %s; embedder %s\n\n", c.threads, c.generator.filename().c_str(),
                c.embedder.filename().c_str());
    std::printf("| %-52s | %10s | %10s | %5s |\n", "measurement (tokens/s unless noted)", "xervo",
                "llama.cpp", "ratio");
    std::printf("|%s|%s|%s|%s|\n", std::string(54, '-').c_str(), std::string(12, '-').c_str(),
                std::string(12, '-').c_str(), std::string(7, '-').c_str());
    if (wants("single")) {
      auto ours = xervo::bench::xervo_single_stream(c);
      auto ref = xervo::bench::llama_bench_generation(c);
      row(("prompt processing, " + std::to_string(c.prompt_tokens) + " tokens (llama-bench pp)").c_str(),
          ours.prompt_tps, ref ? std::optional(ref->prompt_tps) : std::nullopt, "");
      row(("single-stream generation, " + std::to_string(c.gen_tokens) + " tokens (llama-bench tg)").c_str(),
          ours.generation_tps, ref ? std::optional(ref->generation_tps) : std::nullopt, "");
    }
    if (wants("batched"))
      for (int callers : {4, 16}) {
        auto agg = xervo::bench::xervo_concurrent_generation(c, callers);
        auto bref = xervo::bench::llama_batched_bench(c, callers);
        row(("aggregate generation, " + std::to_string(callers) + " callers (batched-bench S_TG)").c_str(),
            agg.generation_tps, bref ? std::optional(bref->generation_tps) : std::nullopt, "");
        row("  prompt + generation over wall time (batched-bench S)", agg.total_tps,
            bref ? std::optional(bref->total_tps) : std::nullopt, "");
      }
    if (wants("embed"))
      row("embedding, 502-token inputs (llama-bench -embd 1)", xervo::bench::xervo_embedding_tps(c),
          xervo::bench::llama_bench_embedding(c), "");
    if (wants("concurrency")) {
      auto [concurrent, sequential] = xervo::bench::xervo_embedding_concurrency(c, 16);
      std::printf("| %-52s | %10.1f | %10.1f | %5.2f |\n",
                  "short embeddings/s: 16 callers vs one at a time (xervo)", concurrent, sequential,
                  concurrent / sequential);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
