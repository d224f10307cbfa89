// The typed handles ModelRuntime hands out. Each wraps a provider's handle with what the runtime
// adds to every call: the in-flight count and last-use time of its registry entry, `served_by`,
// and the spec's fallbacks. A handle keeps its model alive (shared ownership) until released.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/registry.h"
#include "core/response_cache.h"
#include "core/semantic_cache.h"
#include "xervo/embedding.h"
#include "xervo/generator.h"
#include "xervo/reranker.h"
#include "xervo/transcriber.h"

namespace xervo {

// Given a fallback alias, its handle (without further fallbacks of its own).
template <typename Handle>
using FallbackSource = std::function<Result<std::shared_ptr<Handle>>(const std::string& alias)>;

// The response cache as one handle uses it: no cache, or the cache with the identity of the model
// behind the handle (key + the provider's fingerprint) and what the caller allows.
struct HandleCache {
  std::shared_ptr<ResponseCache> cache;
  std::string identity;
  CachePolicy policy;
  bool sampled_generations = false;              // the alias opted in to caching sampled generations
  std::shared_ptr<const SemanticHook> semantic;  // a generation alias's semantic cache, if it has one
  bool active() const { return cache && (policy.read || policy.write); }
};

struct HandleContext {
  std::string alias;  // what served_by reports
  AcquiredModel acquired;
  std::vector<std::string> fallbacks;  // tried in order on a fallback-worthy error
  bool fallback_on_any_error = false;
  HandleCache cache;
};

std::shared_ptr<EmbeddingModel> make_embedding_handle(HandleContext ctx,
                                                      FallbackSource<EmbeddingModel> source);
std::shared_ptr<RerankerModel> make_reranker_handle(HandleContext ctx, FallbackSource<RerankerModel> source);
std::shared_ptr<GeneratorModel> make_generator_handle(HandleContext ctx,
                                                      FallbackSource<GeneratorModel> source);
std::shared_ptr<TranscriberModel> make_transcriber_handle(HandleContext ctx,
                                                          FallbackSource<TranscriberModel> source);

}  // namespace xervo
