// llama.cpp's side: its own benchmark tools, run as subprocesses on the same files and threads,
// their JSON output parsed. Logs of the tools go to /dev/null.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench_local.h"

namespace xervo::bench {
namespace {

struct PipeClose {
  void operator()(std::FILE* f) const { ::pclose(f); }
};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::optional<std::string> run(const std::string& command) {
  std::unique_ptr<std::FILE, PipeClose> pipe(::popen((command + " 2>/dev/null").c_str(), "r"));
  if (!pipe) return std::nullopt;
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe.get())) > 0;) out.append(buf, n);
  const int status = ::pclose(pipe.release());
  if (status != 0) {
    std::fprintf(stderr, "bench: `%s` failed (status %d)\n", command.c_str(), status);
    return std::nullopt;
  }
  return out;
}

std::optional<nlohmann::json> run_json(const std::string& command) {
  auto out = run(command);
  if (!out) return std::nullopt;
  auto json = nlohmann::json::parse(*out, nullptr, false);
  if (json.is_discarded()) {
    std::fprintf(stderr, "bench: `%s` printed no JSON\n", command.c_str());
    return std::nullopt;
  }
  return json;
}

std::string tool(const BenchConfig& c, const char* name) { return quote((c.llama_bin / name).string()); }

std::optional<AggregateSpeed> llama_batched_bench_once(const BenchConfig& c, int parallel, int ctx) {
  auto out = run(tool(c, "llama-batched-bench") + " -m " + quote(c.generator.string()) + " -t " +
                 std::to_string(c.threads) + " -c " + std::to_string(ctx) + " -b 2048 -ub 512 -npp " +
                 std::to_string(c.batched_prompt) + " -ntg " + std::to_string(c.batched_gen) + " -npl " +
                 std::to_string(parallel) + " --output-format jsonl");
  if (!out) return std::nullopt;
  std::istringstream lines(*out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("speed_tg")) continue;
    return AggregateSpeed{j.value("speed_tg", 0.0), j.value("speed", 0.0)};
  }
  std::fprintf(stderr, "bench: llama-batched-bench printed no result line\n");
  return std::nullopt;
}

}  // namespace

std::optional<GenerationSpeed> llama_bench_generation(const BenchConfig& c) {
  auto json = run_json(tool(c, "llama-bench") + " -m " + quote(c.generator.string()) + " -t " +
                       std::to_string(c.threads) + " -p " + std::to_string(c.prompt_tokens) + " -n " +
                       std::to_string(c.gen_tokens) + " -r " + std::to_string(c.repeats) + " -o json");
  if (!json || !json->is_array()) return std::nullopt;
  GenerationSpeed s;
  for (const auto& e : *json) {
    if (e.value("n_gen", 0) == 0)
      s.prompt_tps = e.value("avg_ts", 0.0);
    else
      s.generation_tps = e.value("avg_ts", 0.0);
  }
  return s;
}

std::optional<double> llama_bench_embedding(const BenchConfig& c) {
  // 502 tokens: the same length as the xervo side's inputs (500 words + [CLS] + [SEP]).
  auto json = run_json(tool(c, "llama-bench") + " -m " + quote(c.embedder.string()) + " -t " +
                       std::to_string(c.threads) + " -embd 1 -p 502 -n 0 -r " + std::to_string(c.repeats) +
                       " -o json");
  if (!json || !json->is_array() || json->empty()) return std::nullopt;
  return (*json)[0].value("avg_ts", 0.0);
}

std::optional<AggregateSpeed> llama_batched_bench(const BenchConfig& c, int parallel) {
  // A multiple of the sequence count: llama.cpp splits the context evenly between sequences.
  const int ctx = parallel * (c.batched_prompt + c.batched_gen + 16);
  for (int attempt = 0; attempt < 2; ++attempt)
    if (auto speed = llama_batched_bench_once(c, parallel, ctx)) return speed;
  return std::nullopt;
}

}  // namespace xervo::bench
