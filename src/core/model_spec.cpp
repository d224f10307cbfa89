#include "xervo/model_spec.h"

#include <random>

#include "xervo/generator.h"
#include "xervo/provider.h"

namespace xervo {

std::string_view to_string(ModelTask task) {
  switch (task) {
    case ModelTask::embed:
      return "embed";
    case ModelTask::rerank:
      return "rerank";
    case ModelTask::generate:
      return "generate";
    case ModelTask::transcribe:
      return "transcribe";
  }
  return "unknown";
}

std::optional<ModelTask> parse_model_task(std::string_view name) {
  if (name == "embed" || name == "embedding" || name == "embeddings") return ModelTask::embed;
  if (name == "rerank" || name == "reranking") return ModelTask::rerank;
  if (name == "generate" || name == "generation" || name == "chat") return ModelTask::generate;
  if (name == "transcribe" || name == "transcription" || name == "speech-to-text")
    return ModelTask::transcribe;
  return std::nullopt;
}

std::string_view to_string(WarmupPolicy policy) {
  switch (policy) {
    case WarmupPolicy::lazy:
      return "lazy";
    case WarmupPolicy::eager:
      return "eager";
    case WarmupPolicy::background:
      return "background";
  }
  return "unknown";
}

std::optional<WarmupPolicy> parse_warmup_policy(std::string_view name) {
  if (name == "lazy") return WarmupPolicy::lazy;
  if (name == "eager") return WarmupPolicy::eager;
  if (name == "background") return WarmupPolicy::background;
  return std::nullopt;
}

std::string_view to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::stop:
      return "stop";
    case FinishReason::length:
      return "length";
    case FinishReason::cancelled:
      return "cancelled";
    case FinishReason::tool_calls:
      return "tool_calls";
  }
  return "unknown";
}

void GenerateResult::mark_tool_call_finishes() {
  for (size_t i = 0; i < choice_count(); ++i) {
    GenerateChoice& c = choice(i);
    if (!c.tool_calls.empty() && c.finish_reason == FinishReason::stop)
      c.finish_reason = FinishReason::tool_calls;
  }
}

std::string new_tool_call_id() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kAlphabet[pick(rng)];
  return id;
}

Result<GenerateResult> GeneratorModel::generate_deltas(const GenerateRequest& request,
                                                       const DeltaCallback& on_delta) {
  if (!on_delta) return generate(request, TokenCallback{});
  return generate(request, [&](std::string_view piece) {
    GenerateDelta delta;
    delta.content = std::string(piece);
    return on_delta(delta);
  });
}

Result<int64_t> GeneratorModel::count_prompt_tokens(const GenerateRequest&) {
  return Error(ErrorCode::capability_mismatch,
               "this model's provider cannot count prompt tokens without generating (it has no local "
               "tokenizer for the model)");
}

std::string ModelKey::to_string() const {
  std::string out = std::string(xervo::to_string(task)) + ":" + provider + ":" + model;
  if (!revision.empty()) out += "@" + revision;
  if (options != "{}" && !options.empty()) out += options;
  return out;
}

ModelKey make_model_key(const ModelSpec& spec) {
  // nlohmann::json objects keep keys sorted, so dump() is canonical.
  return ModelKey{spec.task, spec.provider, spec.model, spec.revision,
                  spec.options.is_null() ? "{}" : spec.options.dump()};
}

std::string display_name(const ModelSpec& spec) {
  return spec.alias.empty() ? spec.provider + ":" + spec.model : spec.alias;
}

}  // namespace xervo
