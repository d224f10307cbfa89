#include "core/cached_calls.h"

#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/trace.h"

namespace xervo {
namespace {

using Digest = ResponseCache::Digest;

// Key material: fields joined with a separator that text cannot forge (each text is length-prefixed).
void add_field(std::string& material, std::string_view field) {
  material += std::to_string(field.size());
  material += ':';
  material += field;
}

std::string embed_prefix(const HandleCache& cache, const EmbedOptions& options) {
  std::string m = "embed/1|";
  add_field(m, cache.identity);
  add_field(m, options.dimensions ? std::to_string(*options.dimensions) : "");
  add_field(m, options.truncate ? "t" : "f");
  return m;
}

std::string floats_to_bytes(const std::vector<float>& v) {
  std::string out(v.size() * sizeof(float), '\0');
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

std::optional<std::vector<float>> bytes_to_floats(std::string_view bytes) {
  if (bytes.empty() || bytes.size() % sizeof(float) != 0) return std::nullopt;
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

// A whole Embeddings for the callers that joined an identical call: count, then each vector.
std::string encode_embeddings(const Embeddings& e) {
  nlohmann::json j = {{"dimensions", e.dimensions},
                      {"prompt_tokens", e.usage.prompt_tokens},
                      {"cached", e.usage.cached},
                      {"served_by", e.served_by}};
  std::string head = j.dump();
  std::string out = std::to_string(head.size()) + "\n" + head;
  for (const auto& v : e.vectors) {
    std::string bytes = floats_to_bytes(v);
    out += std::to_string(bytes.size()) + "\n" + bytes;
  }
  return out;
}

std::optional<Embeddings> decode_embeddings(std::string_view data, size_t count) {
  auto take = [&](std::string_view& rest) -> std::optional<std::string_view> {
    auto nl = rest.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    size_t n = std::stoull(std::string(rest.substr(0, nl)));
    rest.remove_prefix(nl + 1);
    if (n > rest.size()) return std::nullopt;
    auto piece = rest.substr(0, n);
    rest.remove_prefix(n);
    return piece;
  };
  std::string_view rest = data;
  auto head = take(rest);
  if (!head) return std::nullopt;
  auto j = nlohmann::json::parse(*head, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  Embeddings e;
  e.dimensions = j.value("dimensions", 0);
  e.usage.prompt_tokens = j.value("prompt_tokens", int64_t{0});
  e.usage.cached = j.value("cached", int64_t{0});
  e.served_by = j.value("served_by", std::string());
  for (size_t i = 0; i < count; ++i) {
    auto bytes = take(rest);
    if (!bytes) return std::nullopt;
    auto v = bytes_to_floats(*bytes);
    if (!v) return std::nullopt;
    e.vectors.push_back(std::move(*v));
  }
  return e;
}

nlohmann::json logprobs_json(const std::vector<TokenLogprob>& logprobs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : logprobs) {
    nlohmann::json top = nlohmann::json::array();
    for (const auto& a : t.top) top.push_back({a.token, a.id, a.logprob});
    // Tokens may be parts of UTF-8 characters: kept as byte arrays, which JSON holds losslessly.
    out.push_back({std::vector<uint8_t>(t.token.begin(), t.token.end()), t.id, t.logprob, top});
  }
  return out;
}

std::vector<TokenLogprob> logprobs_from(const nlohmann::json& j) {
  std::vector<TokenLogprob> out;
  for (const auto& t : j) {
    TokenLogprob lp;
    auto bytes = t.at(0).get<std::vector<uint8_t>>();
    lp.token.assign(bytes.begin(), bytes.end());
    lp.id = t.at(1).get<int32_t>();
    lp.logprob = t.at(2).get<double>();
    for (const auto& a : t.at(3))
      lp.top.push_back({a.at(0).get<std::string>(), a.at(1).get<int32_t>(), a.at(2).get<double>()});
    out.push_back(std::move(lp));
  }
  return out;
}

nlohmann::json tool_calls_json(const std::vector<ToolCall>& calls) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : calls) out.push_back({c.id, c.name, c.arguments});
  return out;
}

std::vector<ToolCall> tool_calls_from(const nlohmann::json& j) {
  std::vector<ToolCall> out;
  for (const auto& c : j)
    out.push_back({c.at(0).get<std::string>(), c.at(1).get<std::string>(), c.at(2).get<std::string>()});
  return out;
}

nlohmann::json choice_json(const GenerateChoice& c) {
  return {{"text", c.text},
          {"reasoning", c.reasoning},
          {"tool_calls", tool_calls_json(c.tool_calls)},
          {"finish", static_cast<int>(c.finish_reason)},
          {"logprobs", logprobs_json(c.logprobs)}};
}

void choice_from(const nlohmann::json& j, GenerateChoice& c) {
  c.text = j.at("text").get<std::string>();
  c.reasoning = j.at("reasoning").get<std::string>();
  c.tool_calls = tool_calls_from(j.at("tool_calls"));
  c.finish_reason = static_cast<FinishReason>(j.at("finish").get<int>());
  c.logprobs = logprobs_from(j.at("logprobs"));
}

nlohmann::json delta_json(const GenerateDelta& d) {
  nlohmann::json calls = nlohmann::json::array();
  for (const auto& t : d.tool_calls) calls.push_back({t.index, t.id, t.name, t.arguments});
  return {d.choice, d.content, d.reasoning, calls, logprobs_json(d.logprobs)};
}

GenerateDelta delta_from(const nlohmann::json& j) {
  GenerateDelta d;
  d.choice = j.at(0).get<int>();
  d.content = j.at(1).get<std::string>();
  d.reasoning = j.at(2).get<std::string>();
  for (const auto& t : j.at(3))
    d.tool_calls.push_back({t.at(0).get<int>(), t.at(1).get<std::string>(), t.at(2).get<std::string>(),
                            t.at(3).get<std::string>()});
  d.logprobs = logprobs_from(j.at(4));
  return d;
}

// Stored generation: the result (all choices, usage) and the deltas it streamed (none for a call
// that did not stream; a hit then streams each choice as one delta). Text fields may hold bytes that
// are not UTF-8 (a cut token): dump() with replacement keeps the entry valid JSON.
std::string encode_generation(const GenerateResult& r, const std::vector<GenerateDelta>& deltas) {
  nlohmann::json choices = nlohmann::json::array();
  for (size_t i = 0; i < r.choice_count(); ++i) choices.push_back(choice_json(r.choice(i)));
  nlohmann::json d = nlohmann::json::array();
  for (const auto& x : deltas) d.push_back(delta_json(x));
  nlohmann::json j = {{"choices", choices},
                      {"prompt_tokens", r.usage.prompt_tokens},
                      {"completion_tokens", r.usage.completion_tokens},
                      {"served_by", r.served_by},
                      {"deltas", d}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

struct StoredGeneration {
  GenerateResult result;
  std::vector<GenerateDelta> deltas;
};

std::optional<StoredGeneration> decode_generation(std::string_view data) {
  auto j = nlohmann::json::parse(data, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    StoredGeneration s;
    const auto& choices = j.at("choices");
    if (!choices.is_array() || choices.empty()) return std::nullopt;
    choice_from(choices[0], s.result);
    for (size_t i = 1; i < choices.size(); ++i) {
      GenerateChoice c;
      choice_from(choices[i], c);
      s.result.more.push_back(std::move(c));
    }
    s.result.usage.prompt_tokens = j.at("prompt_tokens").get<int64_t>();
    s.result.usage.completion_tokens = j.at("completion_tokens").get<int64_t>();
    s.result.served_by = j.at("served_by").get<std::string>();
    for (const auto& d : j.at("deltas")) s.deltas.push_back(delta_from(d));
    return s;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // not what this version writes: a miss
  }
}

// The text the semantic cache compares by meaning: the last message when a user wrote it, or the
// raw prompt; empty when there is none (a tool result, an assistant prefill).
std::string semantic_text(const GenerateRequest& r) {
  if (r.messages.empty()) return r.prompt;
  const ChatMessage& last = r.messages.back();
  return last.role == "user" && last.tool_calls.empty() ? last.content : std::string();
}

// What decides a generation's answer: every request field but the cancel token. `without_text`:
// the semantic cache's bucket, the same without semantic_text() (compared by its vector instead).
std::string generation_material(const HandleCache& cache, const GenerateRequest& r,
                                bool without_text = false) {
  nlohmann::json messages = nlohmann::json::array();
  for (size_t i = 0; i < r.messages.size(); ++i) {
    const ChatMessage& m = r.messages[i];
    const bool text_out = without_text && i + 1 == r.messages.size();
    messages.push_back({m.role, text_out ? std::string() : m.content, tool_calls_json(m.tool_calls),
                        m.tool_call_id, m.name, m.reasoning_content});
  }
  nlohmann::json tools = nlohmann::json::array();
  for (const auto& t : r.tools) tools.push_back({t.name, t.description, t.parameters});
  const auto& o = r.options;
  nlohmann::json bias = nlohmann::json::array();
  for (const auto& [id, b] : o.logit_bias) bias.push_back({id, b});
  nlohmann::json j = {
      {"identity", cache.identity},
      {"messages", messages},
      {"prompt", without_text && r.messages.empty() ? std::string() : r.prompt},
      {"tools", tools},
      {"tool_choice", {static_cast<int>(r.tool_choice.mode), r.tool_choice.name}},
      {"parallel", r.parallel_tool_calls},
      {"options",
       {o.max_tokens, o.temperature, o.top_p, o.top_k, o.min_p, o.repeat_penalty,
        o.seed ? nlohmann::json(*o.seed) : nlohmann::json(), o.stop, o.json_schema, o.presence_penalty,
        o.frequency_penalty, bias, o.logprobs, o.top_logprobs, o.n, o.separate_reasoning}}};
  return "generate/1|" + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool replay(const StoredGeneration& stored, const DeltaCallback& on_delta) {
  if (!stored.deltas.empty()) {
    for (const auto& d : stored.deltas)
      if (!on_delta(d)) return false;
    return true;
  }
  for (size_t i = 0; i < stored.result.choice_count(); ++i) {
    const GenerateChoice& c = stored.result.choice(i);
    GenerateDelta d;
    d.choice = static_cast<int>(i);
    d.content = c.text;
    d.reasoning = c.reasoning;
    for (size_t k = 0; k < c.tool_calls.size(); ++k)
      d.tool_calls.push_back(
          {static_cast<int>(k), c.tool_calls[k].id, c.tool_calls[k].name, c.tool_calls[k].arguments});
    d.logprobs = c.logprobs;
    if (!on_delta(d)) return false;
  }
  return true;
}

}  // namespace

Result<Embeddings> cached_embed(
    const HandleCache& cache, const std::string& alias, std::span<const std::string> inputs,
    const EmbedOptions& options,
    const std::function<Result<Embeddings>(std::span<const std::string>)>& compute) {
  if (!cache.active() || inputs.empty()) return compute(inputs);
  const std::string prefix = embed_prefix(cache, options);
  std::vector<Digest> keys;
  keys.reserve(inputs.size());
  std::string whole = "embed-call/1|" + prefix;
  for (const auto& text : inputs) {
    std::string m = prefix;
    add_field(m, text);
    keys.push_back(ResponseCache::digest(m));
    add_field(whole, text);
  }

  std::optional<Error> error;
  std::optional<Embeddings> mine;
  auto run = [&]() -> std::optional<std::string> {
    trace::Span lookup = trace::start_span("cache.lookup");
    std::vector<std::optional<std::vector<float>>> found(inputs.size());
    std::vector<size_t> missing;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (cache.policy.read) {
        if (auto bytes = cache.cache->get(keys[i])) found[i] = bytes_to_floats(*bytes);
      }
      if (!found[i]) missing.push_back(i);
    }
    lookup.set("xervo.cache.hit", missing.empty());
    lookup.set("xervo.cache.hits", static_cast<int64_t>(inputs.size() - missing.size()));
    lookup.end();
    Embeddings out;
    out.served_by = alias;
    out.usage.cached = static_cast<int64_t>(inputs.size() - missing.size());
    if (!missing.empty()) {
      std::vector<std::string> todo;
      todo.reserve(missing.size());
      for (size_t i : missing) todo.push_back(inputs[i]);
      auto r = compute(todo);
      if (!r.ok()) {
        error = r.error();
        return std::nullopt;
      }
      if (r->vectors.size() != todo.size()) {
        error =
            Error(ErrorCode::inference_failed, "the model returned " + std::to_string(r->vectors.size()) +
                                                   " vectors for " + std::to_string(todo.size()) + " inputs");
        return std::nullopt;
      }
      const bool keep = cache.policy.write && r->served_by == alias;  // a fallback's vectors are not ours
      for (size_t k = 0; k < missing.size(); ++k) {
        if (keep) cache.cache->put(keys[missing[k]], floats_to_bytes(r->vectors[k]));
        found[missing[k]] = std::move(r->vectors[k]);
      }
      out.usage.prompt_tokens = r->usage.prompt_tokens;
      out.served_by = r->served_by;
      out.dimensions = r->dimensions;
    }
    for (auto& v : found) out.vectors.push_back(std::move(*v));
    if (out.dimensions == 0 && !out.vectors.empty()) out.dimensions = static_cast<int>(out.vectors[0].size());
    mine = std::move(out);
    return encode_embeddings(*mine);
  };

  if (!cache.policy.read) {
    run();
  } else {
    bool joined = false;
    auto value = cache.cache->join_or_run(ResponseCache::digest(whole), run, &joined);
    if (joined && value) {
      auto shared = decode_embeddings(*value, inputs.size());
      if (shared) {
        shared->usage.cached = static_cast<int64_t>(inputs.size());
        shared->usage.prompt_tokens = 0;
        return std::move(*shared);
      }
      run();  // cannot happen with this version's encoding; compute rather than fail
    }
  }
  if (error) return *error;
  return std::move(*mine);
}

Result<Reranking> cached_rerank(const HandleCache& cache, const std::string& alias, std::string_view query,
                                std::span<const std::string> documents, std::optional<size_t> top_n,
                                const std::function<Result<Reranking>()>& compute) {
  if (!cache.active()) return compute();
  std::string m = "rerank/1|";
  add_field(m, cache.identity);
  add_field(m, top_n ? std::to_string(*top_n) : "");
  add_field(m, query);
  for (const auto& d : documents) add_field(m, d);

  std::optional<Result<Reranking>> mine;
  bool hit = false;
  trace::Span lookup = trace::start_span("cache.lookup");
  auto value = cache.cache->compute_once(
      ResponseCache::digest(m), cache.policy,
      [&]() -> std::optional<std::string> {
        lookup.set("xervo.cache.hit", false);
        lookup.end();
        mine = compute();
        if (!mine->ok() || (*mine)->served_by != alias) return std::nullopt;
        nlohmann::json results = nlohmann::json::array();
        for (const auto& r : (*mine)->results) results.push_back({r.index, r.score});
        return nlohmann::json{{"results", results}, {"prompt_tokens", (*mine)->usage.prompt_tokens}}.dump();
      },
      &hit);
  lookup.set("xervo.cache.hit", hit);
  lookup.end();
  if (mine && !hit) return std::move(*mine);
  if (value) {
    auto j = nlohmann::json::parse(*value, nullptr, false);
    if (j.is_object() && j.contains("results") && j["results"].is_array()) {
      Reranking out;
      for (const auto& r : j["results"])
        if (r.is_array() && r.size() == 2 && r[0].is_number_unsigned() &&
            r[0].get<size_t>() < documents.size() && r[1].is_number())
          out.results.push_back({r[0].get<size_t>(), r[1].get<double>()});
      if (out.results.size() == j["results"].size()) {
        out.usage.prompt_tokens = j.value("prompt_tokens", int64_t{0});
        out.usage.cached = 1;
        out.served_by = alias;
        return out;
      }
    }
  }
  return compute();  // an entry this version cannot read: computed afresh
}

bool generation_cacheable(const HandleCache& cache, const GenerateRequest& request) {
  if (!cache.active()) return false;
  return cache.sampled_generations || request.options.temperature <= 0.0f || request.options.seed.has_value();
}

Result<GenerateResult> cached_generate(
    const HandleCache& cache, const std::string& alias, const GenerateRequest& request,
    const DeltaCallback& on_delta,
    const std::function<Result<GenerateResult>(const DeltaCallback& record)>& compute) {
  if (!generation_cacheable(cache, request)) return compute(on_delta);
  const Digest key = ResponseCache::digest(generation_material(cache, request));
  const std::string text = cache.semantic ? semantic_text(request) : std::string();
  SemanticLookup semantic(cache.semantic.get(), text,
                          text.empty() ? "" : generation_material(cache, request, true), cache.policy,
                          request.cancel);
  std::optional<std::string> semantic_answer;
  double similarity = 0;
  bool kept = false;
  std::optional<Result<GenerateResult>> mine;
  bool hit = false;
  // Ends when the computation starts (a miss) or when compute_once returns (a hit, or a call that
  // joined an identical one in flight).
  trace::Span lookup = trace::start_span("cache.lookup");
  auto value = cache.cache->compute_once(
      key, cache.policy,
      [&]() -> std::optional<std::string> {
        if (semantic.active() && cache.policy.read) {
          // A close prompt's answer is given, not kept under this prompt's own key.
          semantic_answer = semantic.find(*cache.cache, &similarity);
          if (semantic_answer) return std::nullopt;
        }
        lookup.set("xervo.cache.hit", false);
        lookup.end();
        std::vector<GenerateDelta> deltas;
        DeltaCallback record;
        if (on_delta) {
          record = [&](const GenerateDelta& d) {
            deltas.push_back(d);
            return on_delta(d);
          };
        }
        mine = compute(record);
        if (!mine->ok() || (*mine)->served_by != alias || request.cancel.stop_requested())
          return std::nullopt;
        for (size_t i = 0; i < (*mine)->choice_count(); ++i)
          if ((*mine)->choice(i).finish_reason == FinishReason::cancelled) return std::nullopt;
        std::string encoded = encode_generation(**mine, deltas);
        kept = cache.policy.write && encoded.size() <= cache.cache->options().max_entry_bytes;
        return encoded;
      },
      &hit);
  lookup.set("xervo.cache.hit", hit || semantic_answer.has_value());
  lookup.end();
  if (semantic_answer) {
    value = std::move(semantic_answer);
  } else if (mine && !hit) {
    if (kept) semantic.remember(key);
    return std::move(*mine);
  }
  if (value) {
    if (auto stored = decode_generation(*value)) {
      if (on_delta && !replay(*stored, on_delta)) {
        stored->result.finish_reason = FinishReason::cancelled;  // the caller stopped the replay
      }
      stored->result.usage.cached = 1;
      stored->result.usage.cache_similarity = similarity;
      stored->result.served_by = alias;
      return std::move(stored->result);
    }
  }
  return compute(on_delta);
}

}  // namespace xervo
