#include "providers/llamacpp/sampling.h"

#include <json-schema-to-grammar.h>
#include <json.h>

#include <cmath>
#include <exception>

#include "providers/llamacpp/llama_backend.h"

namespace xervo::llamacpp {
namespace {

Error invalid(const std::string& what) { return Error(ErrorCode::invalid_input, what); }

Result<void> check(const GenerateOptions& o) {
  if (o.max_tokens < 1) return invalid("max_tokens must be at least 1, got " + std::to_string(o.max_tokens));
  if (!std::isfinite(o.temperature) || o.temperature < 0)
    return invalid("temperature must be >= 0, got " + std::to_string(o.temperature));
  if (!std::isfinite(o.top_p) || o.top_p <= 0 || o.top_p > 1)
    return invalid("top_p must be in (0, 1], got " + std::to_string(o.top_p));
  if (o.top_k < 0) return invalid("top_k must be >= 0 (0 = off), got " + std::to_string(o.top_k));
  if (!std::isfinite(o.min_p) || o.min_p < 0 || o.min_p > 1)
    return invalid("min_p must be in [0, 1], got " + std::to_string(o.min_p));
  if (!std::isfinite(o.repeat_penalty) || o.repeat_penalty <= 0)
    return invalid("repeat_penalty must be > 0 (1 = off), got " + std::to_string(o.repeat_penalty));
  for (const auto& s : o.stop)
    if (s.size() > 1024) return invalid("a stop string is longer than 1024 bytes");
  if (o.stop.size() > 64) return invalid("at most 64 stop strings, got " + std::to_string(o.stop.size()));
  return {};
}

}  // namespace

Result<std::string> schema_to_grammar(const std::string& json_schema) {
  try {
    const auto schema = common_json::parse(json_schema);
    std::string grammar = json_schema_to_grammar(schema);
    if (grammar.empty()) return invalid("json_schema produced an empty grammar");
    return grammar;
  } catch (const std::exception& e) {
    return invalid(std::string("json_schema cannot be used to constrain output: ") + e.what());
  }
}

Result<SamplerPtr> make_sampler(const llama_vocab* vocab, const GenerateOptions& o) {
  if (auto r = check(o); !r) return r.error();
  auto params = llama_sampler_chain_default_params();
  params.no_perf = true;
  SamplerPtr chain(llama_sampler_chain_init(params));
  if (!o.json_schema.empty()) {
    auto grammar = schema_to_grammar(o.json_schema);
    if (!grammar) return grammar.error();
    LogCapture capture;
    llama_sampler* g = llama_sampler_init_grammar(vocab, grammar->c_str(), "root");
    if (!g) return invalid("json_schema gave a grammar llama.cpp rejects: " + capture.errors());
    llama_sampler_chain_add(chain.get(), g);
  }
  if (o.repeat_penalty != 1.0f)
    llama_sampler_chain_add(chain.get(), llama_sampler_init_penalties(llama_vocab_n_tokens(vocab), 64,
                                                                      o.repeat_penalty, 0.0f, 0.0f));
  if (o.temperature == 0.0f) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
    return chain;
  }
  if (o.top_k > 0) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(o.top_k));
  if (o.top_p < 1.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(o.top_p, 1));
  if (o.min_p > 0.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_min_p(o.min_p, 1));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(o.temperature));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(o.seed ? *o.seed : LLAMA_DEFAULT_SEED));
  return chain;
}

}  // namespace xervo::llamacpp
