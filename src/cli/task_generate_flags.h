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
  std::vector<std::string> tool_files;  // --tool FILE.json, repeatable
  std::string tool_choice;              // auto | none | required | a function's name

  void add_to(CLI::App& cmd);
  GenerateOptions options() const;
  // The --tool files (each a function in OpenAI's shape, {"type": "function", "function": {...}},
  // or the bare function object) and --tool-choice, into the request. Throws Exception
  // (invalid_input) naming the file that is wrong.
  void add_tools(GenerateRequest& request) const;
};

// One line of JSON per call, in OpenAI's shape: {"id", "type": "function", "function": {"name",
// "arguments"}}.
void print_tool_calls(const std::vector<ToolCall>& calls);

// Prints "N prompt tokens, M generated (finish), X tokens/s" to stderr.
void print_generation_stats(const GenerateResult& result, double seconds);

// Prints each generated token with its logprob (and the alternatives asked for) to stderr, one a
// line: -0.1234  "token"  | "alt" -1.5000  "alt2" -2.0000
void print_logprobs(const GenerateResult& result);
// The same as JSON: [{token, logprob, top_logprobs: [{token, logprob}]}].
nlohmann::json logprobs_json(const std::vector<TokenLogprob>& tokens);

}  // namespace xervo::cli
