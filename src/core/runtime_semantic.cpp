// The runtime's side of the semantic cache (docs/cache.md): checking each alias's semantic cache
// settings against the alias table, and giving a generation handle its alias's SemanticHook: the
// alias's SemanticCache and an embedder that runs the embed alias through the runtime (loads,
// bounds and the response cache included, no fallbacks: another model's vectors are in another
// space).
#include <cmath>

#include "core/log.h"
#include "core/runtime_impl.h"

namespace xervo {
namespace {

constexpr size_t kMaxSemanticEntries = 1'000'000;
// How long a lookup may wait for the embed alias to load (or for memory to load it in) before the
// generation goes on without it, so a budget too small for both models delays a call, never blocks it.
constexpr auto kEmbedderLoadBound = std::chrono::seconds(30);

Result<PromptVector> embed_prompt(const std::shared_ptr<ModelRuntime::Impl>& impl,
                                  const std::string& embed_alias, const std::string& text,
                                  const CachePolicy& policy, std::stop_token cancel) {
  AcquireOptions options;
  options.cancel = cancel;
  options.deadline = std::chrono::steady_clock::now() + kEmbedderLoadBound;
  options.cache = policy;
  ModelSpec spec;
  auto acquired = impl->resolve_and_acquire(embed_alias, ModelTask::embed, options, spec);
  if (!acquired.ok()) return acquired.error();
  PromptVector out;
  out.identity = make_model_key(spec).to_string() + "|" + acquired->model->fingerprint;
  HandleContext ctx{spec.alias, std::move(*acquired), {}, false, {}};
  attach_cache(impl, spec, options, ctx);
  auto handle = make_embedding_handle(std::move(ctx), {});
  // Not truncated: two long prompts that differ only past the embedder's context would look alike.
  EmbedOptions embed_options;
  embed_options.cancel = cancel;
  const std::string inputs[] = {text};
  auto r = handle->embed(inputs, embed_options);
  if (!r.ok()) return r.error();
  if (r->vectors.size() != 1 || r->vectors[0].empty())
    return Error(ErrorCode::inference_failed, "the embedder returned no vector");
  out.values = std::move(r->vectors[0]);
  return out;
}

std::string where(const std::map<std::string, std::string>& locations, const std::string& alias,
                  const char* key) {
  auto it = locations.find("models.\"" + alias + "\".cache." + key);
  return it == locations.end() ? "" : it->second + ": ";
}

}  // namespace

Result<void> check_semantic_caches(const std::map<std::string, ModelSpec>& specs,
                                   const std::map<std::string, std::string>& locations) {
  for (const auto& [alias, spec] : specs) {
    if (!spec.semantic_cache) continue;
    const SemanticCacheSpec& s = *spec.semantic_cache;
    auto fail = [&](const char* key, const std::string& what) {
      return Error(ErrorCode::config_invalid,
                   where(locations, alias, key) + "alias '" + alias + "': cache." + key + ": " + what);
    };
    if (spec.task != ModelTask::generate)
      return fail("semantic_embed", "only generation aliases have a semantic cache ('" + alias +
                                        "' has task " + std::string(to_string(spec.task)) + ")");
    if (spec.cache == false)
      return fail("semantic_embed", "the alias's cache is off (cache = false); the semantic cache needs it");
    auto embed = specs.find(s.embed);
    if (s.embed.empty() || embed == specs.end()) {
      std::vector<std::string> known;
      for (const auto& [name, other] : specs)
        if (other.task == ModelTask::embed) known.push_back(name);
      return fail("semantic_embed", "'" + s.embed + "' is not an alias; embed aliases: " + join_names(known));
    }
    if (embed->second.task != ModelTask::embed)
      return fail("semantic_embed", "'" + s.embed + "' has task " +
                                        std::string(to_string(embed->second.task)) +
                                        "; it must be an embed alias");
    if (!(s.threshold > 0.0 && s.threshold <= 1.0))
      return fail("semantic_threshold", "must be a cosine similarity in (0, 1], such as 0.95");
    if (s.max_entries < 1 || s.max_entries > kMaxSemanticEntries)
      return fail("semantic_max_entries", "must be a count from 1 to " + std::to_string(kMaxSemanticEntries));
  }
  return {};
}

void warn_semantic_without_cache(const std::map<std::string, ModelSpec>& specs, bool cache_on) {
  if (cache_on) return;
  for (const auto& [alias, spec] : specs)
    if (spec.semantic_cache)
      spdlog::warn(
          "alias {} has a semantic cache, which works only with the response cache on "
          "([cache] enabled = true); it is off",
          alias);
}

std::shared_ptr<const SemanticHook> semantic_hook(const std::shared_ptr<ModelRuntime::Impl>& impl,
                                                  const ModelSpec& spec) {
  if (!spec.semantic_cache || spec.task != ModelTask::generate || !impl->cache) return nullptr;
  auto hook = std::make_shared<SemanticHook>();
  hook->cache = impl->semantic.for_alias(spec.alias, spec.semantic_cache->max_entries);
  hook->threshold = static_cast<float>(spec.semantic_cache->threshold);
  hook->alias = spec.alias;
  hook->embed_alias = spec.semantic_cache->embed;
  std::weak_ptr<ModelRuntime::Impl> weak = impl;
  hook->embed = [weak, embed_alias = spec.semantic_cache->embed](
                    const std::string& text, const CachePolicy& policy,
                    std::stop_token cancel) -> Result<PromptVector> {
    auto self = weak.lock();
    if (!self) return Error(ErrorCode::unavailable, "the runtime is shut down");
    return embed_prompt(self, embed_alias, text, policy, std::move(cancel));
  };
  return hook;
}

}  // namespace xervo
