// The task handles of the `openai` provider, one per file, all talking to one ApiClient. Internal
// to the provider. Every handle is immutable after construction (but for the learned embedding
// width, an atomic) and safe from any number of threads.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "net/api_client.h"
#include "xervo/embedding.h"
#include "xervo/generator.h"
#include "xervo/reranker.h"
#include "xervo/transcriber.h"

namespace xervo::openai {

struct ModelConfig {
  std::shared_ptr<const net::ApiClient> api;
  std::string model;                            // the remote model name sent in every request
  size_t max_batch_inputs = 2048;               // inputs per /embeddings request
  std::optional<int> dimensions;                // default `dimensions` for embeddings
  std::string max_tokens_param = "max_tokens";  // or "max_completion_tokens" (OpenAI's newer models)
  bool stream_usage = true;                     // ask for usage in streams (stream_options.include_usage)
  nlohmann::json extra_body = nlohmann::json::object();  // merged into every request body
};

std::shared_ptr<EmbeddingModel> make_embedding_model(ModelConfig config);
std::shared_ptr<GeneratorModel> make_generator_model(ModelConfig config);
std::shared_ptr<RerankerModel> make_reranker_model(ModelConfig config);
// POST /audio/transcriptions (multipart upload; openai_transcriber.cpp).
std::shared_ptr<TranscriberModel> make_transcriber_model(ModelConfig config);

// The usage object of an OpenAI-style response ({prompt_tokens, completion_tokens, total_tokens}).
Usage read_usage(const nlohmann::json& body);
// `body` with every key of `extra` set over it.
void merge_extra_body(nlohmann::json& body, const nlohmann::json& extra);
// presence_penalty, frequency_penalty, logit_bias, logprobs, top_logprobs and n, when set
// (openai_sampling.cpp).
void add_sampling_fields(nlohmann::json& body, const GenerateOptions& options);
// A choice's logprobs.content as TokenLogprobs (empty when it has none).
std::vector<TokenLogprob> read_logprobs(const nlohmann::json& choice);

}  // namespace xervo::openai
