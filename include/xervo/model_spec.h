// What an application asks for: a ModelSpec binds an alias ("embed/fast") to a task, a provider and
// a model with options. A ModelKey is the identity of a loaded model: two specs with equal keys
// share one loaded instance. Plain values; safe to copy across threads.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xervo {

enum class ModelTask { embed, rerank, generate, transcribe };
std::string_view to_string(ModelTask task);
std::optional<ModelTask> parse_model_task(std::string_view name);

// When a spec's model is loaded.
enum class WarmupPolicy {
  lazy,        // on first use (default)
  eager,       // inside RuntimeBuilder::build(); build fails if the load fails
  background,  // on a worker thread after build() returns; failures are recorded, never fatal
};
std::string_view to_string(WarmupPolicy policy);
std::optional<WarmupPolicy> parse_warmup_policy(std::string_view name);

// The semantic cache of a generation alias (docs/cache.md): a prompt whose embedding through the
// embed alias `embed` is at least `threshold` cosine-similar to a cached prompt's gets that prompt's
// answer, where the rest of the request is the same. At most `max_entries` prompts are remembered
// (least recently used out first).
struct SemanticCacheSpec {
  std::string embed;           // an embed alias
  double threshold = 0.95;     // in (0, 1]
  size_t max_entries = 10000;  // 1 .. 1,000,000
  bool operator==(const SemanticCacheSpec&) const = default;
};

struct ModelSpec {
  std::string alias;  // what applications name: "embed/fast"
  ModelTask task = ModelTask::embed;
  std::string provider;  // registered provider id: "llamacpp", "openai", ...
  std::string model;     // provider's model id: a path, "library:ID", "hf:ORG/REPO", a remote name
  std::string revision;  // optional: Hub revision, remote model version
  nlohmann::json options = nlohmann::json::object();  // provider options (context_size, threads, ...)
  WarmupPolicy warmup = WarmupPolicy::lazy;
  std::vector<std::string> fallbacks;  // aliases tried in order when this one fails with a retryable error
  bool fallback_on_any_error = false;  // also fall back on non-retryable errors (invalid_input, unauthorized)
  // Lifecycle (not part of the key): a pinned model is never evicted nor expired; keep_alive is how
  // long it stays loaded after its last use (negative: until evicted; 0: unloaded right after the
  // call; unset: the runtime's default).
  bool pin = false;
  std::optional<std::chrono::milliseconds> keep_alive;
  // Response cache for this alias (not part of the key): unset caches deterministic calls only
  // (embeddings, reranks, greedy or seeded generations); true also sampled generations; false none.
  std::optional<bool> cache;
  // Opt-in semantic cache of a generation alias (only where the exact cache applies); unset: none.
  std::optional<SemanticCacheSpec> semantic_cache;
};

// The task is part of the key: an embedding context and a generation context of one GGUF file are
// different loaded models.
struct ModelKey {
  ModelTask task = ModelTask::embed;
  std::string provider;
  std::string model;
  std::string revision;
  std::string options;  // canonical JSON (sorted keys, no whitespace)

  // "embed:llamacpp:/m/x.gguf@rev{...}": stable, printable, usable as a map key.
  std::string to_string() const;
  bool operator==(const ModelKey&) const = default;
};

ModelKey make_model_key(const ModelSpec& spec);

// How messages name a spec: its alias, or "provider:model" for a spec built without one.
std::string display_name(const ModelSpec& spec);

}  // namespace xervo
