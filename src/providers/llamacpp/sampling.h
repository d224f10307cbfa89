// The sampler of one generation: llama.cpp's sampler chain built from GenerateOptions (logit bias,
// optional JSON-schema grammar, penalties, then greedy (temperature 0) or top-k / top-p / min-p /
// temperature / seeded draw), and the log probabilities of what it picks when a request asks.
//
// llama_sampler_sample copies every logit of the vocabulary into a candidate array and sorts the
// top k of it before the chain runs: ~45 us a token for a 32k vocabulary, ~4% of a 4-stream decode
// step on 2 cores, spent while the decode threads wait. When the chain starts with greedy or top-k
// (no grammar, no penalty, no logit bias: they need the whole vocabulary), Sampler picks the argmax
// or the k best logits in one pass instead and runs the same chain on those k: the same token, the
// same RNG draws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "providers/llamacpp/llama_handles.h"
#include "providers/llamacpp/tool_grammar.h"
#include "xervo/error.h"
#include "xervo/generator.h"

namespace xervo::llamacpp {

// The most alternatives a step reports (OpenAI's top_logprobs bound), and the most logit_bias
// entries a request may carry.
inline constexpr int kMaxTopLogprobs = 20;
inline constexpr size_t kMaxLogitBias = 1024;
inline constexpr int kMaxChoices = 16;  // GenerateOptions::n

class Sampler {
 public:
  Sampler() = default;
  // invalid_input for out-of-range options or a JSON schema that cannot become a grammar. One
  // sampler draws one sequence: for n > 1, one per sequence from choice_options.
  // `grammar`: the chat format's constraint (tool calls), first in the chain; not with json_schema.
  static Result<Sampler> create(const llama_vocab* vocab, const GenerateOptions& options,
                                const GrammarSpec* grammar = nullptr);

  // The next token from the logits at batch index `idx` of ctx's last decode, accepted into the
  // chain's state. Not thread-safe: one generation, one thread at a time.
  llama_token sample(llama_context* ctx, int32_t idx);

  // When the options asked for logprobs: `token`'s log probability at batch index `idx` of ctx's
  // last decode, with options.top_logprobs alternatives; nullopt otherwise. It is the model's own
  // distribution, the log-softmax of the raw logits, taken before logit bias, penalties, grammar
  // and temperature change them (OpenAI's meaning, and llama-server's n_probs by default): a
  // request's sampling settings change which token is drawn, never the probabilities reported.
  std::optional<TokenLogprob> logprob(llama_context* ctx, int32_t idx, llama_token token) const;

 private:
  enum class Shortcut { none, greedy, top_k };
  SamplerPtr chain_;
  const llama_vocab* vocab_ = nullptr;
  Shortcut shortcut_ = Shortcut::none;
  int top_k_ = 0;
  int n_vocab_ = 0;
  bool logprobs_ = false;
  int top_logprobs_ = 0;
  std::vector<llama_token_data> candidates_;
};

// The options of sequence `choice` of a request for n: the same, seeded with choice_seed, so that
// the n sequences draw different texts and the same seed draws the same n.
GenerateOptions choice_options(const GenerateOptions& options, int choice);

// The seed of sequence `choice` of a request seeded with `seed`: the seed itself for the first one
// (so n = 1 draws what it always drew), a splitmix64 mix of (seed, choice) for the others.
uint64_t choice_seed(uint64_t seed, int choice);

// The 32-bit seed llama.cpp's draw takes (llama_sampler_init_dist) for a 64-bit request seed: seeds
// below 2^32 - 1 are passed as they are, so they draw what llama.cpp's own tools draw with the same
// --seed; larger ones (and 2^32 - 1, which llama.cpp reads as "random") are hashed over all 64 bits,
// so seeds that differ only in their high bits still draw differently.
uint32_t draw_seed(uint64_t seed);

// The GBNF grammar for a JSON Schema document (invalid_input when it is not valid JSON or uses
// what the converter does not support).
Result<std::string> schema_to_grammar(const std::string& json_schema);

}  // namespace xervo::llamacpp
