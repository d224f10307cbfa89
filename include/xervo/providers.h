// Factories for the providers that ship with xervo, and one call that registers all of them on a
// builder with the settings of the config's [providers.ID] tables.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "xervo/provider.h"
#include "xervo/runtime.h"

namespace xervo {

// Local GGUF models through llama.cpp. `resolver` turns "library:" and "hf:" ids into files (may be null).
std::shared_ptr<ModelProvider> make_llamacpp_provider(const nlohmann::json& settings,
                                                      std::shared_ptr<ModelResolver> resolver);
// BERT-family ONNX graphs (embed, rerank) through ONNX Runtime, loaded at run time. Built only where
// ONNX Runtime's header was found (docs/providers/onnx.md).
std::shared_ptr<ModelProvider> make_onnx_provider(const nlohmann::json& settings);
// Speech to text through whisper.cpp (ggml Whisper files). Built only where bootstrap built
// whisper.cpp (docs/providers/whisper.md).
std::shared_ptr<ModelProvider> make_whisper_provider(const nlohmann::json& settings,
                                                     std::shared_ptr<ModelResolver> resolver);
// Any OpenAI-compatible HTTP API.
std::shared_ptr<ModelProvider> make_openai_provider(const nlohmann::json& settings);
// Google's Gemini API.
std::shared_ptr<ModelProvider> make_gemini_provider(const nlohmann::json& settings);

// Registers every provider built into this binary, each with builder.provider_settings(id).
void add_builtin_providers(RuntimeBuilder& builder, std::shared_ptr<ModelResolver> resolver = nullptr);

}  // namespace xervo
