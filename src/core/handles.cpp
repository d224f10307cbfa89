#include "core/handles.h"

#include "core/cached_calls.h"
#include "core/log.h"

namespace xervo {
namespace {

// Counts one call in flight on a registry entry for its lifetime.
class InFlight {
 public:
  explicit InFlight(ModelUsage& usage) : usage_(usage) {
    usage_.in_flight.fetch_add(1, std::memory_order_relaxed);
    usage_.touch();
  }
  ~InFlight() { usage_.in_flight.fetch_sub(1, std::memory_order_relaxed); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  ModelUsage& usage_;
};

bool should_fall_back(const Error& error, const HandleContext& ctx) {
  if (error.code() == ErrorCode::cancelled) return false;
  return ctx.fallback_on_any_error || is_retryable(error.code()) ||
         error.code() == ErrorCode::model_load_failed;
}

// Runs `call` on the primary; on a fallback-worthy error, on each fallback in order. The result of
// the first success is returned; when all fail, the primary's error (the one the caller asked for).
template <typename Handle, typename Value, typename Call>
Result<Value> with_fallbacks(const HandleContext& ctx, const FallbackSource<Handle>& source, Call&& call,
                             Handle& primary) {
  Result<Value> result = [&] {
    InFlight guard(*ctx.acquired.usage);
    return call(primary);
  }();
  if (result.ok()) {
    if (result->served_by.empty()) result->served_by = ctx.alias;
    return result;
  }
  if (ctx.fallbacks.empty() || !should_fall_back(result.error(), ctx)) return result;
  for (const auto& alias : ctx.fallbacks) {
    spdlog::warn("{} failed ({}); trying fallback {}", ctx.alias, result.error().to_string(), alias);
    auto handle = source(alias);
    if (!handle.ok()) {
      spdlog::warn("fallback {} unavailable: {}", alias, handle.error().to_string());
      continue;
    }
    auto r = call(**handle);
    if (r.ok()) {
      if (r->served_by.empty()) r->served_by = alias;
      return r;
    }
    spdlog::warn("fallback {} failed: {}", alias, r.error().to_string());
  }
  return result;
}

class EmbeddingHandle final : public EmbeddingModel {
 public:
  EmbeddingHandle(HandleContext ctx, FallbackSource<EmbeddingModel> source)
      : ctx_(std::move(ctx)), source_(std::move(source)), model_(ctx_.acquired.model->embedding) {}

  Result<Embeddings> embed(std::span<const std::string> inputs, const EmbedOptions& options) override {
    return cached_embed(ctx_.cache, ctx_.alias, inputs, options,
                        [&](std::span<const std::string> todo) { return compute(todo, options); });
  }
  int dimensions() const override { return model_->dimensions(); }

 private:
  Result<Embeddings> compute(std::span<const std::string> inputs, const EmbedOptions& options) {
    const int expected = model_->dimensions();
    auto call = [&](EmbeddingModel& m) -> Result<Embeddings> {
      auto r = m.embed(inputs, options);
      // A fallback must not change the vector space callers index into.
      if (r.ok() && &m != model_.get() && expected > 0 && r->dimensions != expected)
        return Error(ErrorCode::inference_failed, "fallback returned " + std::to_string(r->dimensions) +
                                                      "-dimensional vectors where " + ctx_.alias + " has " +
                                                      std::to_string(expected));
      return r;
    };
    return with_fallbacks<EmbeddingModel, Embeddings>(ctx_, source_, call, *model_);
  }

  HandleContext ctx_;
  FallbackSource<EmbeddingModel> source_;
  std::shared_ptr<EmbeddingModel> model_;
};

class RerankerHandle final : public RerankerModel {
 public:
  RerankerHandle(HandleContext ctx, FallbackSource<RerankerModel> source)
      : ctx_(std::move(ctx)), source_(std::move(source)), model_(ctx_.acquired.model->reranker) {}

  Result<Reranking> rerank(std::string_view query, std::span<const std::string> documents,
                           std::optional<size_t> top_n, std::stop_token cancel) override {
    return cached_rerank(ctx_.cache, ctx_.alias, query, documents, top_n, [&] {
      auto call = [&](RerankerModel& m) { return m.rerank(query, documents, top_n, cancel); };
      return with_fallbacks<RerankerModel, Reranking>(ctx_, source_, call, *model_);
    });
  }

 private:
  HandleContext ctx_;
  FallbackSource<RerankerModel> source_;
  std::shared_ptr<RerankerModel> model_;
};

class GeneratorHandle final : public GeneratorModel {
 public:
  GeneratorHandle(HandleContext ctx, FallbackSource<GeneratorModel> source)
      : ctx_(std::move(ctx)), source_(std::move(source)), model_(ctx_.acquired.model->generator) {}

  using GeneratorModel::generate;
  Result<GenerateResult> generate(const GenerateRequest& request, const TokenCallback& on_piece) override {
    DeltaCallback as_deltas;  // a cached answer replays its pieces through the caller's callback
    if (on_piece)
      as_deltas = [&](const GenerateDelta& d) { return d.content.empty() || on_piece(d.content); };
    return cached_generate(ctx_.cache, ctx_.alias, request, as_deltas, [&](const DeltaCallback& record) {
      TokenCallback pieces;
      if (record) {
        pieces = [&](std::string_view piece) {
          GenerateDelta d;
          d.content = std::string(piece);
          return record(d);
        };
      }
      return run([&](GeneratorModel& m, bool& streamed) {
        TokenCallback tracked;
        if (pieces)
          tracked = [&](std::string_view piece) {
            streamed = true;
            return pieces(piece);
          };
        return m.generate(request, tracked);
      });
    });
  }

  Result<GenerateResult> generate_deltas(const GenerateRequest& request,
                                         const DeltaCallback& on_delta) override {
    return cached_generate(ctx_.cache, ctx_.alias, request, on_delta, [&](const DeltaCallback& record) {
      return run([&](GeneratorModel& m, bool& streamed) {
        DeltaCallback tracked;
        if (record)
          tracked = [&](const GenerateDelta& d) {
            streamed = true;
            return record(d);
          };
        return m.generate_deltas(request, tracked);
      });
    });
  }

  // The alias's own model counts: fallbacks may tokenize differently.
  Result<int64_t> count_prompt_tokens(const GenerateRequest& request) override {
    return model_->count_prompt_tokens(request);
  }

 private:
  // Runs `call` with fallbacks. Once a piece reached the caller, another model cannot continue the
  // same text: no fallback then.
  template <typename Call>
  Result<GenerateResult> run(Call&& call) {
    bool streamed = false;
    auto attempt = [&](GeneratorModel& m) -> Result<GenerateResult> {
      if (streamed) return Error(ErrorCode::inference_failed, "stream failed after output was sent");
      return call(m, streamed);
    };
    return with_fallbacks<GeneratorModel, GenerateResult>(ctx_, source_, attempt, *model_);
  }

  HandleContext ctx_;
  FallbackSource<GeneratorModel> source_;
  std::shared_ptr<GeneratorModel> model_;
};

// Transcripts are not cached (the audio would be the key). Once a segment reached the caller, another
// model cannot continue the same transcript: no fallback then.
class TranscriberHandle final : public TranscriberModel {
 public:
  TranscriberHandle(HandleContext ctx, FallbackSource<TranscriberModel> source)
      : ctx_(std::move(ctx)), source_(std::move(source)), model_(ctx_.acquired.model->transcriber) {}

  using TranscriberModel::transcribe;
  Result<Transcription> transcribe(const TranscribeRequest& request,
                                   const SegmentCallback& on_segment) override {
    bool streamed = false;
    SegmentCallback tracked;
    if (on_segment)
      tracked = [&](const TranscriptSegment& s) {
        streamed = true;
        return on_segment(s);
      };
    auto call = [&](TranscriberModel& m) -> Result<Transcription> {
      if (streamed)
        return Error(ErrorCode::inference_failed, "transcription failed after segments were sent");
      return m.transcribe(request, tracked);
    };
    return with_fallbacks<TranscriberModel, Transcription>(ctx_, source_, call, *model_);
  }

 private:
  HandleContext ctx_;
  FallbackSource<TranscriberModel> source_;
  std::shared_ptr<TranscriberModel> model_;
};

}  // namespace

std::shared_ptr<TranscriberModel> make_transcriber_handle(HandleContext ctx,
                                                          FallbackSource<TranscriberModel> source) {
  return std::make_shared<TranscriberHandle>(std::move(ctx), std::move(source));
}
std::shared_ptr<EmbeddingModel> make_embedding_handle(HandleContext ctx,
                                                      FallbackSource<EmbeddingModel> source) {
  return std::make_shared<EmbeddingHandle>(std::move(ctx), std::move(source));
}
std::shared_ptr<RerankerModel> make_reranker_handle(HandleContext ctx, FallbackSource<RerankerModel> source) {
  return std::make_shared<RerankerHandle>(std::move(ctx), std::move(source));
}
std::shared_ptr<GeneratorModel> make_generator_handle(HandleContext ctx,
                                                      FallbackSource<GeneratorModel> source) {
  return std::make_shared<GeneratorHandle>(std::move(ctx), std::move(source));
}

}  // namespace xervo
