// The response cache around one handle's calls. Embeddings are cached per input (a batch with half
// its texts seen before computes only the other half); reranks and generations as whole answers,
// generations only when deterministic (greedy or seeded) unless the alias opted in. A streamed
// generation is recorded delta by delta, and a hit on it is replayed through the caller's callback
// in the same pieces. An answer a fallback produced is never kept under the primary's identity.
// Identical calls in flight at once compute once (ResponseCache::compute_once). A generation alias
// with a semantic cache (HandleCache::semantic) also gets, on an exact miss, the answer of a close
// enough cached prompt (core/semantic_cache.h).
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/handles.h"

namespace xervo {

// `compute` runs the call (with its fallbacks) on the inputs it is given.
Result<Embeddings> cached_embed(
    const HandleCache& cache, const std::string& alias, std::span<const std::string> inputs,
    const EmbedOptions& options,
    const std::function<Result<Embeddings>(std::span<const std::string>)>& compute);

Result<Reranking> cached_rerank(const HandleCache& cache, const std::string& alias, std::string_view query,
                                std::span<const std::string> documents, std::optional<size_t> top_n,
                                const std::function<Result<Reranking>()>& compute);

// Whether a generation request may be answered from the cache.
bool generation_cacheable(const HandleCache& cache, const GenerateRequest& request);

// `compute` runs the generation; when the caller streams, it passes each delta to `record` (which
// forwards it to the caller and keeps it for replay); `on_delta` is the caller's callback for a hit
// (empty when the caller does not stream).
Result<GenerateResult> cached_generate(
    const HandleCache& cache, const std::string& alias, const GenerateRequest& request,
    const DeltaCallback& on_delta,
    const std::function<Result<GenerateResult>(const DeltaCallback& record)>& compute);

}  // namespace xervo
