// Sampling flags shared by `xervo generate` and `xervo chat`, turned into GenerateOptions with
// the library's defaults for every flag left out. Used on the main thread only.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "xervo/generator.h"

namespace xervo::cli {

struct GenerateFlags {
  std::string model;
  std::string system;
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int> top_k;
  std::optional<float> min_p;
  std::optional<float> repeat_penalty;
  std::optional<uint64_t> seed;  // all 64 bits reach the provider
  std::optional<int> max_tokens;
  std::vector<std::string> stop;
  std::optional<int> logprobs;  // --logprobs N: each token's logprob and N alternatives
  bool stats = false;

  void add_to(CLI::App& cmd);
  GenerateOptions options() const;
};

// Prints "N prompt tokens, M generated (finish), X tokens/s" to stderr.
void print_generation_stats(const GenerateResult& result, double seconds);

// Prints each generated token with its logprob (and the alternatives asked for) to stderr, one a
// line: -0.1234  "token"  | "alt" -1.5000  "alt2" -2.0000
void print_logprobs(const GenerateResult& result);
// The same as JSON: [{token, logprob, top_logprobs: [{token, logprob}]}].
nlohmann::json logprobs_json(const std::vector<TokenLogprob>& tokens);

}  // namespace xervo::cli
