// The `gemini` provider: Google's Gemini API. Settings come from [providers.gemini] with the spec's
// options over them; the key is sent as x-goog-api-key (never in the URL, where logs would keep it).
// Loading makes no network call; the first request tells whether key and model are right.
#include <algorithm>
#include <cctype>

#include "net/api_client.h"
#include "providers/gemini/gemini_models.h"
#include "xervo/providers.h"

namespace xervo {
namespace gemini {

std::optional<ErrorCode> classify_error(int status, const nlohmann::json& body) {
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) return std::nullopt;
  const auto& e = body["error"];
  const std::string s = e.contains("status") && e["status"].is_string() ? e["status"].get<std::string>() : "";
  const std::string message =
      e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
  if (s == "INVALID_ARGUMENT") {
    // A bad key is reported as 400 INVALID_ARGUMENT with reason API_KEY_INVALID.
    const std::string text = e.dump();
    if (text.find("API_KEY_INVALID") != std::string::npos ||
        message.find("API key not valid") != std::string::npos)
      return ErrorCode::unauthorized;
    if (message.find("token count") != std::string::npos && message.find("exceeds") != std::string::npos)
      return ErrorCode::context_overflow;
    return ErrorCode::invalid_input;
  }
  if (s == "UNAUTHENTICATED") return ErrorCode::unauthorized;
  if (s == "PERMISSION_DENIED") return ErrorCode::forbidden;
  if (s == "NOT_FOUND") return ErrorCode::model_not_found;
  if (s == "RESOURCE_EXHAUSTED") return ErrorCode::rate_limited;
  if (s == "UNAVAILABLE") return ErrorCode::unavailable;
  if (s == "DEADLINE_EXCEEDED") return ErrorCode::timeout;
  if (s == "INTERNAL") return ErrorCode::inference_failed;
  if (s == "FAILED_PRECONDITION") return ErrorCode::invalid_input;
  return std::nullopt;
}

}  // namespace gemini

namespace {

net::ApiDefaults gemini_defaults() {
  net::ApiDefaults d;
  d.service = "gemini";
  d.base_url_env = "GEMINI_BASE_URL";
  d.base_url = "https://generativelanguage.googleapis.com/v1beta";
  d.api_key_env = "GEMINI_API_KEY";
  d.keys = {"max_batch_inputs", "dimensions", "task_type", "json_schema_field", "generation_config"};
  return d;
}

struct Api {
  net::ApiSettings settings;
  std::shared_ptr<net::ApiClient> client;
};

Result<Api> make_api(const nlohmann::json& provider_settings, const nlohmann::json& options,
                     const std::string& model) {
  auto settings = net::parse_api_settings(provider_settings, options, gemini_defaults());
  if (!settings) return settings.error();
  net::HttpHeaders auth;
  if (!settings->api_key.empty()) auth.add("x-goog-api-key", settings->api_key);
  net::ApiContext ctx;
  ctx.service = "gemini";
  ctx.base_url = net::redact_url(settings->base_url);
  ctx.model = model;
  ctx.api_key_env = settings->api_key_env;
  ctx.key_sent = !settings->api_key.empty();
  if (ctx.key_sent) ctx.secrets.push_back(settings->api_key);
  auto client = std::make_shared<net::ApiClient>(*settings, std::move(ctx), std::move(auth),
                                                 net::HttpClient::shared(), gemini::classify_error);
  return Api{std::move(*settings), std::move(client)};
}

// "gemini-2.0-flash" or "models/gemini-2.0-flash"; the name goes into a URL path, so only the
// characters model names use are accepted.
Result<std::string> model_name(const ModelSpec& spec) {
  std::string name = spec.model;
  if (name.starts_with("models/")) name = name.substr(7);
  const bool ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
  if (!ok)
    return Error(ErrorCode::config_invalid, "alias '" + display_name(spec) + "': '" + spec.model +
                                                "' is not a Gemini model name (like gemini-2.0-flash)");
  return name;
}

class GeminiProvider final : public ModelProvider {
 public:
  explicit GeminiProvider(nlohmann::json settings) : settings_(std::move(settings)) {}

  std::string id() const override { return "gemini"; }

  ProviderCapabilities capabilities() const override {
    return {{ModelTask::embed, ModelTask::generate, ModelTask::transcribe}, true, true};
  }

  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback& progress) override {
    if (spec.task == ModelTask::rerank)
      return Error(ErrorCode::capability_mismatch,
                   "alias '" + display_name(spec) + "': the gemini provider cannot rerank");
    auto name = model_name(spec);
    if (!name) return name.error();
    auto api = make_api(settings_, spec.options, *name);
    if (!api)
      return Error(api.error().code(), "alias '" + display_name(spec) + "': " + api.error().message());
    const auto& merged = api->settings.merged;
    auto fail = [&](const std::string& what) {
      return Error(ErrorCode::config_invalid, "alias '" + display_name(spec) + "': " + what);
    };

    gemini::ModelConfig config;
    config.api = api->client;
    config.model = *name;
    if (auto v = merged.find("max_batch_inputs"); v != merged.end()) {
      if (!v->is_number_integer() || v->get<int64_t>() < 1)
        return fail("max_batch_inputs must be a positive integer");
      config.max_batch_inputs = v->get<size_t>();
    }
    if (auto v = merged.find("dimensions"); v != merged.end()) {
      if (!v->is_number_integer() || v->get<int64_t>() < 1)
        return fail("dimensions must be a positive integer");
      config.dimensions = v->get<int>();
    }
    if (auto v = merged.find("task_type"); v != merged.end()) {
      if (!v->is_string())
        return fail("task_type must be a string (RETRIEVAL_DOCUMENT, RETRIEVAL_QUERY, ...)");
      config.task_type = v->get<std::string>();
    }
    if (auto v = merged.find("json_schema_field"); v != merged.end()) {
      if (!v->is_string() || (*v != "responseJsonSchema" && *v != "responseSchema"))
        return fail("json_schema_field must be \"responseJsonSchema\" or \"responseSchema\"");
      config.json_schema_field = v->get<std::string>();
    }
    if (auto v = merged.find("generation_config"); v != merged.end()) {
      if (!v->is_object()) return fail("generation_config must be a table");
      config.extra_generation_config = *v;
    }

    LoadedModel model;
    if (spec.task == ModelTask::embed)
      model.embedding = gemini::make_embedding_model(std::move(config));
    else if (spec.task == ModelTask::transcribe)
      model.transcriber = gemini::make_transcriber_model(std::move(config));
    else
      model.generator = gemini::make_generator_model(std::move(config));
    model.info = {{"base_url", net::redact_url(api->settings.base_url)},
                  {"model", *name},
                  {"api_key_env", api->settings.api_key_env},
                  {"api_key_set", !api->settings.api_key.empty()}};
    model.fingerprint = "gemini|" + api->settings.base_url + "|" + *name + "|" + spec.revision;
    if (progress) progress(1.0f, "ready");
    return model;
  }

  std::vector<std::string> setting_keys() const override { return net::api_setting_keys(gemini_defaults()); }

  // GET {base}/models with the provider's own settings.
  ProviderHealth health() override {
    auto api = make_api(settings_, nlohmann::json::object(), "");
    if (!api) return {false, api.error().message(), 0};
    const std::string where = net::redact_url(api->settings.base_url);
    if (api->settings.api_key.empty())  // Gemini needs a key for everything: say so without a request
      return {false, where + ": no API key: set $" + api->settings.api_key_env, 0};
    return api->client->check_health("/models");
  }

 private:
  nlohmann::json settings_;
};

}  // namespace

std::shared_ptr<ModelProvider> make_gemini_provider(const nlohmann::json& settings) {
  return std::make_shared<GeminiProvider>(settings);
}

}  // namespace xervo
