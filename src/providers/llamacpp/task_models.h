// The task handles of a loaded llama.cpp model: EmbeddingModel, RerankerModel and GeneratorModel
// over one llama_model and the scheduler that owns its context. They turn requests into tokens
// (in the caller's thread), bound and check lengths, and hand the work to the scheduler. Safe to
// call from any number of threads at once.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "providers/llamacpp/chat_template.h"
#include "providers/llamacpp/llama_engine.h"
#include "providers/llamacpp/options.h"
#include "providers/llamacpp/scheduler.h"
#include "providers/llamacpp/text.h"
#include "xervo/embedding.h"
#include "xervo/generator.h"
#include "xervo/reranker.h"

namespace xervo::llamacpp {

// What every handle knows about its model.
struct ModelSetup {
  std::shared_ptr<const llama_model> model;
  std::string name;  // the file, for messages
  Options options;
  int max_tokens = 512;  // tokens one input (embed, rerank) or one prompt + answer (generate) may use
  // Bytes of text beyond which an input cannot fit max_tokens (kMaxBytesPerToken each): refused, or
  // cut there when truncating, before it is tokenized.
  size_t max_text_bytes() const { return static_cast<size_t>(max_tokens) * kMaxBytesPerToken; }
};

class LlamaEmbedding final : public EmbeddingModel {
 public:
  LlamaEmbedding(ModelSetup setup, std::unique_ptr<PooledScheduler> scheduler);
  Result<Embeddings> embed(std::span<const std::string> inputs, const EmbedOptions& options) override;
  int dimensions() const override { return dimensions_; }
  PooledScheduler& scheduler() { return *scheduler_; }

 private:
  ModelSetup setup_;
  std::unique_ptr<PooledScheduler> scheduler_;
  int dimensions_;
};

class LlamaReranker final : public RerankerModel {
 public:
  LlamaReranker(ModelSetup setup, std::unique_ptr<PooledScheduler> scheduler);
  Result<Reranking> rerank(std::string_view query, std::span<const std::string> documents,
                           std::optional<size_t> top_n, std::stop_token cancel) override;
  PooledScheduler& scheduler() { return *scheduler_; }

 private:
  Result<Tokens> pair_tokens(std::string_view query, const std::string& document, size_t index) const;

  ModelSetup setup_;
  std::unique_ptr<PooledScheduler> scheduler_;
  std::string rerank_template_;  // the file's "rerank" chat template ({query}, {document}), if any
};

class LlamaGenerator final : public GeneratorModel {
 public:
  LlamaGenerator(ModelSetup setup, std::unique_ptr<ChatTemplate> chat, std::unique_ptr<LlamaEngine> engine,
                 SchedulerConfig config, std::shared_ptr<ComputeLane> lane);
  using GeneratorModel::generate;
  // Content pieces only (thinking and tool calls are in the result).
  Result<GenerateResult> generate(const GenerateRequest& request, const TokenCallback& on_piece) override;
  Result<int64_t> count_prompt_tokens(const GenerateRequest& request) override;
  // Content, thinking and tool-call deltas, parsed as they are generated.
  Result<GenerateResult> generate_deltas(const GenerateRequest& request,
                                         const DeltaCallback& on_delta) override;
  GenerationScheduler& scheduler() { return *scheduler_; }

 private:
  // The prompt's tokens; the template's extra stops join `stops`, its grammar and output parser
  // (for chats with tools or thinking) land in `chat`.
  Result<Tokens> prompt_tokens(const GenerateRequest& request, std::vector<std::string>& stops,
                               RenderedChat& chat) const;

  ModelSetup setup_;
  std::unique_ptr<ChatTemplate> chat_;
  LlamaEngine* engine_;  // owned by scheduler_; binds each request's sampler to its logits
  std::unique_ptr<GenerationScheduler> scheduler_;
};

}  // namespace xervo::llamacpp
