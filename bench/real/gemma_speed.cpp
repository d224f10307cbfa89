// xervo_bench_gemma: xervo's side of gemma_speed.sh. Loads one GGUF through ModelRuntime (the
// public API an application uses, so the measured path is tokenizer + scheduler + llama_decode +
// sampler) and prints one JSON line: prompt processing and generation tokens per second, each the
// median of REPS runs.
//   xervo_bench_gemma MODEL.gguf THREADS PROMPT_TOKENS GEN_TOKENS REPS
// Prompt processing: a raw prompt of PROMPT_TOKENS tokens (calibrated through usage.prompt_tokens)
// with max_tokens = 1, timed around generate(): prompt tokens / wall time. Each repetition's
// prompt starts differently, so nothing is reused from an earlier one. Generation: greedy from a
// short prompt, GEN_TOKENS tokens; (completion tokens - 1) / time from the first streamed piece to
// the end, which leaves the prompt out as llama-bench's tg test does.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "xervo/providers.h"
#include "xervo/runtime.h"

namespace {

using Clock = std::chrono::steady_clock;
using xervo::GenerateRequest;
using xervo::GenerateResult;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

GenerateResult must(xervo::Result<GenerateResult> r) {
  if (!r) throw std::runtime_error(r.error().to_string());
  return std::move(r).value();
}

// English-like text of `words` words; `variant` changes the first words so no prefix is shared.
std::string text_of(int words, int variant) {
  static const char* kWords[] = {"the",  "river", "ran",   "past", "an",   "old",   "mill", "where",
                                 "farm", "dogs",  "slept", "in",   "warm", "grass", "all",  "summer"};
  std::string text = "Chapter " + std::to_string(variant) + ".";
  for (int i = 0; i < words; ++i) text += std::string(" ") + kWords[(i * 5 + variant) % 16];
  return text;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s MODEL.gguf THREADS PROMPT_TOKENS GEN_TOKENS REPS\n", argv[0]);
    return 2;
  }
  const std::string model_path = argv[1];
  const int threads = std::max(1, std::atoi(argv[2]));
  const int prompt_tokens = std::max(8, std::atoi(argv[3]));
  const int gen_tokens = std::max(2, std::atoi(argv[4]));
  const int reps = std::max(1, std::atoi(argv[5]));
  try {
    xervo::RuntimeBuilder builder;
    builder.add_provider(xervo::make_llamacpp_provider(nlohmann::json::object(), nullptr));
    xervo::ModelSpec spec;
    spec.alias = "gemma";
    spec.task = xervo::ModelTask::generate;
    spec.provider = "llamacpp";
    spec.model = model_path;
    // One slot, batch 512 (llama-bench's -ub default); the context holds the longest request.
    spec.options = {{"threads", threads},
                    {"parallel", 1},
                    {"batch_size", 512},
                    {"context_size", prompt_tokens + gen_tokens + 64}};
    builder.add_spec(spec);
    auto runtime = builder.build().value_or_throw();
    auto model = runtime->generator("gemma").value_or_throw();

    GenerateRequest warm;
    warm.prompt = "warm up";
    warm.options.max_tokens = 4;
    warm.options.temperature = 0;
    must(model->generate(warm));

    // Words per token of this text under this tokenizer, then the word count for prompt_tokens.
    GenerateRequest probe;
    probe.prompt = text_of(200, 9999);
    probe.options.max_tokens = 1;
    probe.options.temperature = 0;
    const auto probe_tokens = std::max<int64_t>(1, must(model->generate(probe)).usage.prompt_tokens);
    int words = std::max(1, static_cast<int>(200.0 * prompt_tokens / static_cast<double>(probe_tokens)));

    std::vector<double> pp, tg;
    int64_t pp_tokens = 0, tg_tokens = 0;
    for (int r = 0; r < reps; ++r) {
      GenerateRequest p;
      p.prompt = text_of(words, r);
      p.options.max_tokens = 1;
      p.options.temperature = 0;
      auto start = Clock::now();
      auto result = must(model->generate(p));
      pp.push_back(static_cast<double>(result.usage.prompt_tokens) / seconds_since(start));
      pp_tokens = result.usage.prompt_tokens;

      GenerateRequest g;
      g.prompt = "Once upon a time, in a village by the sea, there lived";
      g.options.max_tokens = gen_tokens;
      g.options.temperature = 0;  // greedy: the sampler is an argmax, as near to llama-bench as an API gets
      Clock::time_point first{};
      auto gen = must(model->generate(g, [&](std::string_view) {
        if (first == Clock::time_point{}) first = Clock::now();
        return true;
      }));
      if (gen.usage.completion_tokens > 1 && first != Clock::time_point{})
        tg.push_back(static_cast<double>(gen.usage.completion_tokens - 1) / seconds_since(first));
      tg_tokens = gen.usage.completion_tokens;
    }
    std::printf("%s\n", nlohmann::json{{"pp_tps", median(pp)},
                                       {"tg_tps", median(tg)},
                                       {"prompt_tokens", pp_tokens},
                                       {"gen_tokens", tg_tokens},
                                       {"reps", reps}}
                            .dump()
                            .c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xervo_bench_gemma: %s\n", e.what());
    return 1;
  }
  return 0;
}
