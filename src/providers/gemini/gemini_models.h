// The task handles of the `gemini` provider (embedContent / batchEmbedContents, generateContent /
// streamGenerateContent, generateContent with inline audio), sharing one ApiClient. Internal to the provider. Handles are immutable
// after construction (but for the learned embedding width, an atomic) and safe from any thread.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "net/api_client.h"
#include "xervo/embedding.h"
#include "xervo/generator.h"
#include "xervo/transcriber.h"

namespace xervo::gemini {

struct ModelConfig {
  std::shared_ptr<const net::ApiClient> api;
  std::string model;              // without the "models/" prefix
  size_t max_batch_inputs = 100;  // requests per batchEmbedContents call (the API allows 100)
  std::optional<int> dimensions;  // outputDimensionality
  std::string task_type;          // embedContent taskType (RETRIEVAL_QUERY, ...); empty = unset
  std::string json_schema_field = "responseJsonSchema";               // or "responseSchema" (OpenAPI subset)
  nlohmann::json extra_generation_config = nlohmann::json::object();  // merged into generationConfig
};

std::shared_ptr<EmbeddingModel> make_embedding_model(ModelConfig config);
std::shared_ptr<GeneratorModel> make_generator_model(ModelConfig config);
// generateContent with the audio inline and a JSON answer of timed segments.
std::shared_ptr<TranscriberModel> make_transcriber_model(ModelConfig config);

// Gemini's error status names ({error: {status}}) as xervo codes; nullopt for the status mapping.
std::optional<ErrorCode> classify_error(int status, const nlohmann::json& body);

}  // namespace xervo::gemini
