#include "providers/llamacpp/sampling.h"

#include <json-schema-to-grammar.h>
#include <json.h>

#include <algorithm>
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
  for (const auto& [name, value] : {std::pair{"presence_penalty", o.presence_penalty},
                                    std::pair{"frequency_penalty", o.frequency_penalty}})
    if (!std::isfinite(value) || value < -2 || value > 2)
      return invalid(std::string(name) + " must be in [-2, 2] (0 = off), got " + std::to_string(value));
  if (o.logit_bias.size() > kMaxLogitBias)
    return invalid("logit_bias has " + std::to_string(o.logit_bias.size()) + " entries; at most " +
                   std::to_string(kMaxLogitBias));
  if (o.top_logprobs < 0 || o.top_logprobs > kMaxTopLogprobs)
    return invalid("top_logprobs must be in [0, " + std::to_string(kMaxTopLogprobs) + "], got " +
                   std::to_string(o.top_logprobs));
  if (o.top_logprobs > 0 && !o.logprobs) return invalid("top_logprobs needs logprobs");
  if (o.n < 1 || o.n > kMaxChoices)
    return invalid("n must be in [1, " + std::to_string(kMaxChoices) + "], got " + std::to_string(o.n));
  return {};
}

// Each logit_bias entry names a token of this vocabulary and a finite bias in [-100, 100].
Result<std::vector<llama_logit_bias>> checked_bias(const GenerateOptions& o, int n_vocab) {
  std::vector<llama_logit_bias> out;
  out.reserve(o.logit_bias.size());
  for (const auto& [token, bias] : o.logit_bias) {
    if (token < 0 || token >= n_vocab)
      return invalid("logit_bias names token " + std::to_string(token) +
                     ", but the vocabulary has tokens 0 to " + std::to_string(n_vocab - 1));
    if (!std::isfinite(bias) || bias < -100 || bias > 100)
      return invalid("logit_bias for token " + std::to_string(token) + " must be in [-100, 100], got " +
                     std::to_string(bias));
    out.push_back({token, bias});
  }
  return out;
}

// A token's bytes as text, control tokens included ("</s>"): logprobs show every token, even those
// a generation's text leaves out.
std::string token_bytes(const llama_vocab* vocab, llama_token token) {
  std::string out(32, '\0');
  int32_t n = llama_token_to_piece(vocab, token, out.data(), static_cast<int32_t>(out.size()), 0, true);
  if (n < 0) {
    out.resize(static_cast<size_t>(-n));
    n = llama_token_to_piece(vocab, token, out.data(), static_cast<int32_t>(out.size()), 0, true);
  }
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

}  // namespace

uint32_t draw_seed(uint64_t seed) {
  if (seed < LLAMA_DEFAULT_SEED) return static_cast<uint32_t>(seed);
  // splitmix64's finalizer: every input bit affects every output bit; then fold the halves.
  uint64_t x = seed;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  const auto folded = static_cast<uint32_t>(x ^ (x >> 32));
  return folded == LLAMA_DEFAULT_SEED ? folded - 1 : folded;
}

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

uint64_t choice_seed(uint64_t seed, int choice) {
  if (choice == 0) return seed;
  uint64_t x = seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(choice);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

GenerateOptions choice_options(const GenerateOptions& options, int choice) {
  GenerateOptions out = options;
  if (out.seed) out.seed = choice_seed(*out.seed, choice);
  return out;
}

Result<Sampler> Sampler::create(const llama_vocab* vocab, const GenerateOptions& o,
                                const GrammarSpec* grammar) {
  if (auto r = check(o); !r) return r.error();
  auto params = llama_sampler_chain_default_params();
  params.no_perf = true;
  Sampler out;
  out.vocab_ = vocab;
  out.n_vocab_ = llama_vocab_n_tokens(vocab);
  out.logprobs_ = o.logprobs;
  out.top_logprobs_ = o.top_logprobs;
  auto bias = checked_bias(o, out.n_vocab_);
  if (!bias) return bias.error();
  out.chain_.reset(llama_sampler_chain_init(params));
  llama_sampler* chain = out.chain_.get();
  bool whole_vocabulary = false;  // a stage that must see every token comes first
  if (!bias->empty()) {
    llama_sampler_chain_add(
        chain, llama_sampler_init_logit_bias(out.n_vocab_, static_cast<int32_t>(bias->size()), bias->data()));
    whole_vocabulary = true;
  }
  if (grammar && !grammar->empty()) {
    if (!o.json_schema.empty())
      return invalid("json_schema cannot be combined with tool calls in one answer");
    auto g = make_grammar_sampler(vocab, *grammar);
    if (!g) return g.error();
    llama_sampler_chain_add(chain, *g);
    whole_vocabulary = true;
  }
  if (!o.json_schema.empty()) {
    auto grammar = schema_to_grammar(o.json_schema);
    if (!grammar) return grammar.error();
    LogCapture capture;
    llama_sampler* g = llama_sampler_init_grammar(vocab, grammar->c_str(), "root");
    if (!g) return invalid("json_schema gave a grammar llama.cpp rejects: " + capture.errors());
    llama_sampler_chain_add(chain, g);
    whole_vocabulary = true;
  }
  if (o.repeat_penalty != 1.0f) {  // llama.cpp's meaning: the last 64 tokens
    llama_sampler_chain_add(chain,
                            llama_sampler_init_penalties(out.n_vocab_, 64, o.repeat_penalty, 0.0f, 0.0f));
    whole_vocabulary = true;
  }
  if (o.frequency_penalty != 0.0f || o.presence_penalty != 0.0f) {
    // OpenAI's meaning: every token generated so far counts, so the window is the whole answer.
    llama_sampler_chain_add(chain, llama_sampler_init_penalties(out.n_vocab_, std::max(1, o.max_tokens), 1.0f,
                                                                o.frequency_penalty, o.presence_penalty));
    whole_vocabulary = true;
  }
  if (o.temperature == 0.0f) {
    llama_sampler_chain_add(chain, llama_sampler_init_greedy());
    if (!whole_vocabulary) out.shortcut_ = Shortcut::greedy;
    return out;
  }
  if (o.top_k > 0) {
    llama_sampler_chain_add(chain, llama_sampler_init_top_k(o.top_k));
    if (!whole_vocabulary && o.top_k < out.n_vocab_) {
      out.shortcut_ = Shortcut::top_k;
      out.top_k_ = o.top_k;
      out.candidates_.reserve(static_cast<size_t>(o.top_k));
    }
  }
  if (o.top_p < 1.0f) llama_sampler_chain_add(chain, llama_sampler_init_top_p(o.top_p, 1));
  if (o.min_p > 0.0f) llama_sampler_chain_add(chain, llama_sampler_init_min_p(o.min_p, 1));
  llama_sampler_chain_add(chain, llama_sampler_init_temp(o.temperature));
  llama_sampler_chain_add(chain, llama_sampler_init_dist(o.seed ? draw_seed(*o.seed) : LLAMA_DEFAULT_SEED));
  return out;
}

std::optional<TokenLogprob> Sampler::logprob(llama_context* ctx, int32_t idx, llama_token token) const {
  if (!logprobs_) return std::nullopt;
  const float* logits = llama_get_logits_ith(ctx, idx);
  if (!logits || token < 0 || token >= n_vocab_) return std::nullopt;
  // log-softmax in double: log p(t) = l(t) - (max + log sum exp(l - max)).
  float max = logits[0];
  for (int t = 1; t < n_vocab_; ++t) max = std::max(max, logits[t]);
  double sum = 0;
  for (int t = 0; t < n_vocab_; ++t) sum += std::exp(static_cast<double>(logits[t]) - max);
  const double log_z = max + std::log(sum);
  TokenLogprob out;
  out.id = token;
  out.token = token_bytes(vocab_, token);
  out.logprob = logits[token] - log_z;
  if (top_logprobs_ == 0) return out;
  // The best top_logprobs_ in one pass: a min-heap of the best so far (ties: the lower id first).
  using Entry = std::pair<float, llama_token>;
  auto better = [](const Entry& a, const Entry& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  std::vector<Entry> heap;
  heap.reserve(static_cast<size_t>(top_logprobs_));
  for (llama_token t = 0; t < n_vocab_; ++t) {
    const Entry e{logits[t], t};
    if (static_cast<int>(heap.size()) < top_logprobs_) {
      heap.push_back(e);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(e, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = e;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), better);  // best first
  for (const auto& [logit, t] : heap) out.top.push_back({token_bytes(vocab_, t), t, logit - log_z});
  return out;
}

llama_token Sampler::sample(llama_context* ctx, int32_t idx) {
  const float* logits = shortcut_ == Shortcut::none ? nullptr : llama_get_logits_ith(ctx, idx);
  if (!logits) return llama_sampler_sample(chain_.get(), ctx, idx);
  if (shortcut_ == Shortcut::greedy) {
    // llama.cpp's greedy stage: the first of the highest logits.
    llama_token best = 0;
    for (llama_token t = 1; t < n_vocab_; ++t)
      if (logits[t] > logits[best]) best = t;
    llama_sampler_accept(chain_.get(), best);
    return best;
  }
  // The k highest logits in one pass: a min-heap of the best so far, its root the one to beat.
  auto worse = [](const llama_token_data& a, const llama_token_data& b) { return a.logit > b.logit; };
  candidates_.clear();
  for (llama_token t = 0; t < n_vocab_; ++t) {
    if (static_cast<int>(candidates_.size()) < top_k_) {
      candidates_.push_back({t, logits[t], 0.0f});
      std::push_heap(candidates_.begin(), candidates_.end(), worse);
    } else if (logits[t] > candidates_.front().logit) {
      std::pop_heap(candidates_.begin(), candidates_.end(), worse);
      candidates_.back() = {t, logits[t], 0.0f};
      std::push_heap(candidates_.begin(), candidates_.end(), worse);
    }
  }
  std::sort_heap(candidates_.begin(), candidates_.end(), worse);  // highest logit first
  llama_token_data_array cur{candidates_.data(), candidates_.size(), -1, true};
  llama_sampler_apply(chain_.get(), &cur);  // top-k keeps all k; the rest of the chain as usual
  const llama_token token = cur.data[cur.selected].id;
  llama_sampler_accept(chain_.get(), token);
  return token;
}

}  // namespace xervo::llamacpp
