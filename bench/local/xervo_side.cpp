// xervo's side: every measurement goes through ModelRuntime and the typed handles, as an
// application would. Prompts differ per request so that no prefix cache can skip the work.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "bench_local.h"
#include "xervo/providers.h"
#include "xervo/runtime.h"

namespace xervo::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::shared_ptr<ModelRuntime> runtime_with(const std::string& alias, ModelTask task,
                                           const std::filesystem::path& model, nlohmann::json options) {
  RuntimeBuilder builder;
  builder.add_provider(make_llamacpp_provider(nlohmann::json::object(), nullptr));
  ModelSpec spec;
  spec.alias = alias;
  spec.task = task;
  spec.provider = "llamacpp";
  spec.model = model.string();
  spec.options = std::move(options);
  builder.add_spec(spec);
  return builder.build().value_or_throw();
}

// `words` words of English-like text; `variant` changes the first tokens so no prefix is shared.
std::string sentence_text(int words, int variant) {
  static const char* kWords[] = {"the", "quick", "brown", "fox",  "jumps", "over", "a",    "lazy",
                                 "dog", "and",   "then",  "runs", "far",   "away", "into", "forest"};
  std::string text = "Story " + std::to_string(variant) + ":";
  for (int i = 0; i < words; ++i) text += std::string(" ") + kWords[(i * 7 + variant) % 16];
  return text;
}

GenerateResult must(Result<GenerateResult> r) {
  if (!r) throw std::runtime_error(r.error().to_string());
  return std::move(r).value();
}

}  // namespace

GenerationSpeed xervo_single_stream(const BenchConfig& config) {
  auto runtime = runtime_with("gen", ModelTask::generate, config.generator,
                              {{"threads", config.threads}, {"parallel", 1}, {"context_size", 1024}});
  auto model = runtime->generator("gen").value_or_throw();
  GenerateRequest warm;
  warm.prompt = "warm up";
  warm.options.max_tokens = 4;
  must(model->generate(warm));

  // Calibrate the number of words that makes `prompt_tokens` tokens.
  GenerateRequest probe;
  probe.prompt = sentence_text(200, 999);
  probe.options.max_tokens = 1;
  const auto probe_tokens = must(model->generate(probe)).usage.prompt_tokens;
  const int words =
      std::max<int>(1, static_cast<int>(200.0 * config.prompt_tokens / std::max<int64_t>(1, probe_tokens)));

  GenerationSpeed best;
  for (int r = 0; r < config.repeats; ++r) {
    GenerateRequest pp;
    pp.prompt = sentence_text(words, r);
    pp.options.max_tokens = 1;
    auto start = Clock::now();
    auto result = must(model->generate(pp));
    best.prompt_tps = std::max(best.prompt_tps, result.usage.prompt_tokens / seconds_since(start));

    GenerateRequest tg;
    tg.prompt = "Once upon a time " + std::to_string(r);
    tg.options.max_tokens = config.gen_tokens;
    tg.options.temperature = 1.0f;  // sampled: greedy decoding of random weights may hit the end token
    tg.options.seed = 100 + r;
    Clock::time_point first{};
    int pieces = 0;
    auto gen = must(model->generate(tg, [&](std::string_view) {
      if (pieces++ == 0) first = Clock::now();
      return true;
    }));
    if (gen.usage.completion_tokens > 1 && first != Clock::time_point{})
      best.generation_tps =
          std::max(best.generation_tps, (gen.usage.completion_tokens - 1) / seconds_since(first));
  }
  return best;
}

AggregateSpeed xervo_concurrent_generation(const BenchConfig& config, int callers) {
  auto runtime = runtime_with("gen", ModelTask::generate, config.generator,
                              {{"threads", config.threads}, {"parallel", callers}, {"context_size", 512}});
  auto model = runtime->generator("gen").value_or_throw();
  GenerateRequest warm;
  warm.prompt = "warm up";
  warm.options.max_tokens = 4;
  must(model->generate(warm));
  // Words for about `batched_prompt` tokens (a SentencePiece word is about 1.3 tokens).
  const int words = std::max(1, config.batched_prompt * 3 / 4);

  AggregateSpeed best;
  for (int r = 0; r < config.repeats; ++r) {
    std::atomic<int64_t> prompt_tokens{0}, completion_tokens{0};
    std::mutex mutex;
    Clock::time_point last_first_piece{};
    std::atomic<bool> failed{false};
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < callers; ++c)
      threads.emplace_back([&, c] {
        GenerateRequest request;
        request.prompt = sentence_text(words, r * 1000 + c);
        request.options.max_tokens = config.batched_gen;
        request.options.temperature = 1.0f;
        request.options.seed = static_cast<uint32_t>(c + 1);
        bool first = true;
        auto result = model->generate(request, [&](std::string_view) {
          if (first) {
            first = false;
            std::lock_guard lock(mutex);
            last_first_piece = std::max(last_first_piece, Clock::now());
          }
          return true;
        });
        if (!result) {
          failed = true;
          return;
        }
        prompt_tokens += result->usage.prompt_tokens;
        completion_tokens += result->usage.completion_tokens;
      });
    for (auto& t : threads) t.join();
    const double wall = seconds_since(start);
    if (failed) throw std::runtime_error("a concurrent generation failed");
    AggregateSpeed s;
    s.total_tps = (prompt_tokens + completion_tokens) / wall;
    // Tokens generated after the last caller got its first one, over that time: the steady state
    // of `callers` streams, which is what llama-batched-bench's S_TG measures.
    const double tg_span = wall - std::chrono::duration<double>(last_first_piece - start).count();
    s.generation_tps = tg_span > 0 ? (completion_tokens - callers) / tg_span : 0;
    best.total_tps = std::max(best.total_tps, s.total_tps);
    best.generation_tps = std::max(best.generation_tps, s.generation_tps);
  }
  return best;
}

double xervo_embedding_tps(const BenchConfig& config) {
  auto runtime = runtime_with("embed", ModelTask::embed, config.embedder, {{"threads", config.threads}});
  auto model = runtime->embedding("embed").value_or_throw();
  // bert-bge: each of these words is one token; 500 of them plus [CLS] and [SEP] fill 502 of 512.
  auto long_text = [](int variant) {
    static const char* kWords[] = {"river", "stone", "light", "paper", "garden", "window", "music", "table"};
    std::string text;
    for (int i = 0; i < 500; ++i) text += std::string(i ? " " : "") + kWords[(i * 3 + variant) % 8];
    return text;
  };
  if (!model->embed(std::vector<std::string>{"warm up"})) throw std::runtime_error("embedding warmup failed");
  double best = 0;
  for (int r = 0; r < config.repeats; ++r) {
    std::vector<std::string> inputs;
    for (int i = 0; i < 4; ++i) inputs.push_back(long_text(r * 4 + i));
    auto start = Clock::now();
    auto result = model->embed(inputs);
    if (!result) throw std::runtime_error(result.error().to_string());
    best = std::max(best, result->usage.prompt_tokens / seconds_since(start));
  }
  return best;
}

std::pair<double, double> xervo_embedding_concurrency(const BenchConfig& config, int callers) {
  auto runtime = runtime_with("embed", ModelTask::embed, config.embedder, {{"threads", config.threads}});
  auto model = runtime->embedding("embed").value_or_throw();
  const int per_caller = 20;
  auto text = [](int c, int i) {
    return "short query " + std::to_string(c) + " about item " + std::to_string(i);
  };
  if (!model->embed(std::vector<std::string>{"warm up"})) throw std::runtime_error("embedding warmup failed");

  std::atomic<bool> failed{false};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c)
    threads.emplace_back([&, c] {
      for (int i = 0; i < per_caller; ++i)
        if (!model->embed(std::vector<std::string>{text(c, i)})) failed = true;
    });
  for (auto& t : threads) t.join();
  const double concurrent = callers * per_caller / seconds_since(start);

  start = Clock::now();
  for (int c = 0; c < callers; ++c)
    for (int i = 0; i < per_caller; ++i)
      if (!model->embed(std::vector<std::string>{text(c, i)})) failed = true;
  const double sequential = callers * per_caller / seconds_since(start);
  if (failed) throw std::runtime_error("an embedding request failed");
  return {concurrent, sequential};
}

}  // namespace xervo::bench
