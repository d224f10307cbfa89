// The `openai` provider: builds the task handles for a spec from [providers.openai] settings with
// the spec's options over them. Loading makes no network call: a remote model "loads" instantly and
// its first request tells whether the server, the key and the model are right.
#include <chrono>

#include "core/log.h"
#include "net/api_client.h"
#include "providers/openai/openai_models.h"
#include "xervo/providers.h"

namespace xervo {
namespace {

net::ApiDefaults openai_defaults() {
  net::ApiDefaults d;
  d.service = "openai";
  d.base_url_env = "OPENAI_BASE_URL";
  d.base_url = "https://api.openai.com/v1";
  d.api_key_env = "OPENAI_API_KEY";
  d.keys = {"organization",     "max_batch_inputs", "dimensions",
            "max_tokens_param", "stream_usage",     "extra_body"};
  return d;
}

// OpenAI-style error bodies carry a code that says more than the status.
std::optional<ErrorCode> classify_openai_error(int status, const nlohmann::json& body) {
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) return std::nullopt;
  const auto& e = body["error"];
  auto field = [&](const char* key) {
    return e.contains(key) && e[key].is_string() ? e[key].get<std::string>() : "";
  };
  const std::string code = field("code"), type = field("type");
  if (code == "context_length_exceeded" || type == "exceed_context_size_error")
    return ErrorCode::context_overflow;
  // llama-server answers an embedding input longer than its batch with a 500 saying so.
  if (field("message").find("too large to process") != std::string::npos) return ErrorCode::context_overflow;
  if (code == "model_not_found") return ErrorCode::model_not_found;
  if (code == "invalid_api_key") return ErrorCode::unauthorized;
  return std::nullopt;
}

struct Loaded {
  net::ApiSettings settings;
  std::shared_ptr<net::ApiClient> api;
};

Result<Loaded> make_api(const nlohmann::json& provider_settings, const nlohmann::json& options,
                        const std::string& model) {
  auto settings = net::parse_api_settings(provider_settings, options, openai_defaults());
  if (!settings) return settings.error();
  net::HttpHeaders auth;
  if (!settings->api_key.empty()) auth.add("Authorization", "Bearer " + settings->api_key);
  if (auto org = settings->merged.find("organization"); org != settings->merged.end()) {
    if (!org->is_string())
      return Error(ErrorCode::config_invalid, "[providers.openai] organization must be a string");
    auth.add("OpenAI-Organization", org->get<std::string>());
  }
  net::ApiContext ctx;
  ctx.service = "openai";
  ctx.base_url = net::redact_url(settings->base_url);
  ctx.model = model;
  ctx.api_key_env = settings->api_key_env;
  ctx.key_sent = !settings->api_key.empty();
  if (ctx.key_sent) ctx.secrets.push_back(settings->api_key);
  auto api = std::make_shared<net::ApiClient>(*settings, std::move(ctx), std::move(auth),
                                              net::HttpClient::shared(), classify_openai_error);
  return Loaded{std::move(*settings), std::move(api)};
}

class OpenAiProvider final : public ModelProvider {
 public:
  explicit OpenAiProvider(nlohmann::json settings) : settings_(std::move(settings)) {}

  std::string id() const override { return "openai"; }

  ProviderCapabilities capabilities() const override {
    return {{ModelTask::embed, ModelTask::rerank, ModelTask::generate, ModelTask::transcribe}, true, true};
  }

  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback& progress) override {
    if (spec.model.empty())
      return Error(ErrorCode::config_invalid,
                   "alias '" + display_name(spec) + "': the openai provider needs a model name");
    auto loaded = make_api(settings_, spec.options, spec.model);
    if (!loaded)
      return Error(loaded.error().code(), "alias '" + display_name(spec) + "': " + loaded.error().message());
    const auto& merged = loaded->settings.merged;

    openai::ModelConfig config;
    config.api = loaded->api;
    config.model = spec.model;
    if (auto v = merged.find("max_batch_inputs"); v != merged.end()) {
      if (!v->is_number_integer() || v->get<int64_t>() < 1)
        return Error(ErrorCode::config_invalid,
                     "alias '" + display_name(spec) + "': max_batch_inputs must be a positive integer");
      config.max_batch_inputs = v->get<size_t>();
    }
    if (auto v = merged.find("dimensions"); v != merged.end()) {
      if (!v->is_number_integer() || v->get<int64_t>() < 1)
        return Error(ErrorCode::config_invalid,
                     "alias '" + display_name(spec) + "': dimensions must be a positive integer");
      config.dimensions = v->get<int>();
    }
    if (auto v = merged.find("max_tokens_param"); v != merged.end()) {
      if (!v->is_string() || (*v != "max_tokens" && *v != "max_completion_tokens"))
        return Error(ErrorCode::config_invalid,
                     "alias '" + spec.alias +
                         "': max_tokens_param must be \"max_tokens\" or \"max_completion_tokens\"");
      config.max_tokens_param = v->get<std::string>();
    }
    if (auto v = merged.find("stream_usage"); v != merged.end()) {
      if (!v->is_boolean())
        return Error(ErrorCode::config_invalid,
                     "alias '" + display_name(spec) + "': stream_usage must be true or false");
      config.stream_usage = v->get<bool>();
    }
    if (auto v = merged.find("extra_body"); v != merged.end()) {
      if (!v->is_object())
        return Error(ErrorCode::config_invalid,
                     "alias '" + display_name(spec) + "': extra_body must be a table");
      config.extra_body = *v;
    }

    LoadedModel model;
    switch (spec.task) {
      case ModelTask::embed:
        model.embedding = openai::make_embedding_model(std::move(config));
        break;
      case ModelTask::rerank:
        model.reranker = openai::make_reranker_model(std::move(config));
        break;
      case ModelTask::generate:
        model.generator = openai::make_generator_model(std::move(config));
        break;
      case ModelTask::transcribe:
        model.transcriber = openai::make_transcriber_model(std::move(config));
        break;
    }
    model.info = {{"base_url", net::redact_url(loaded->settings.base_url)},
                  {"model", spec.model},
                  {"api_key_env", loaded->settings.api_key_env},
                  {"api_key_set", !loaded->settings.api_key.empty()}};
    model.fingerprint = "openai|" + loaded->settings.base_url + "|" + spec.model + "|" + spec.revision;
    if (progress) progress(1.0f, "ready");
    return model;
  }

  std::vector<std::string> setting_keys() const override { return net::api_setting_keys(openai_defaults()); }

  // GET {base}/models with the provider's own settings.
  ProviderHealth health() override {
    auto loaded = make_api(settings_, nlohmann::json::object(), "");
    if (!loaded) return {false, loaded.error().message(), 0};
    return loaded->api->check_health("/models");
  }

 private:
  nlohmann::json settings_;
};

}  // namespace

std::shared_ptr<ModelProvider> make_openai_provider(const nlohmann::json& settings) {
  return std::make_shared<OpenAiProvider>(settings);
}

}  // namespace xervo
