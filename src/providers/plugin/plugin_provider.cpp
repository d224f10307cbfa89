#include "providers/plugin/plugin_provider.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <optional>

#include "core/embedding_vectors.h"

namespace xervo {
namespace {

// Largest vector a plugin model may declare (bounds the output buffer of one call).
constexpr uint32_t kMaxDimensions = 65536;

uint32_t task_bit(ModelTask task) {
  switch (task) {
    case ModelTask::embed:
      return XERVO_PLUGIN_TASK_EMBED;
    case ModelTask::rerank:
      return XERVO_PLUGIN_TASK_RERANK;
    case ModelTask::generate:
      return XERVO_PLUGIN_TASK_GENERATE;
  }
  return 0;
}

// One loaded plugin model: unloaded through the plugin when the last handle using it goes. Calls on a
// plugin that is not thread-safe take `serial` so that one model never runs two calls at once.
class PluginModel {
 public:
  PluginModel(std::shared_ptr<const PluginLibrary> library, xervo_plugin_model* model, uint32_t dimensions)
      : library_(std::move(library)), model_(model), dimensions_(dimensions) {}
  ~PluginModel() { library_->api->unload(model_); }
  PluginModel(const PluginModel&) = delete;
  PluginModel& operator=(const PluginModel&) = delete;

  const xervo_plugin_api& api() const { return *library_->api; }
  const std::string& id() const { return library_->id; }
  uint32_t dimensions() const { return dimensions_; }

  // Runs `call(model, error)` under the plugin's threading rule; a status other than OK becomes the
  // Error of its code, naming the plugin. A C++ exception escaping a plugin (the ABI forbids it) is
  // caught where the unwinder can and reported as internal.
  template <typename Call>
  Result<void> invoke(const char* what, Call&& call) const {
    xervo_plugin_error error;
    std::memset(&error, 0, sizeof error);
    int status = XERVO_PLUGIN_INTERNAL;
    try {
      std::unique_lock<std::mutex> lock;
      if (!(api().flags & XERVO_PLUGIN_THREAD_SAFE)) lock = std::unique_lock(serial_);
      status = call(model_, &error);
    } catch (...) {
      return Error(ErrorCode::internal,
                   "plugin '" + id() + "': " + what + " threw an exception across the C ABI");
    }
    if (status == XERVO_PLUGIN_OK) return {};
    return Error(plugin_error_code(status), failure_message(id(), what, status, error));
  }

  static std::string failure_message(const std::string& id, const char* what, int status,
                                     xervo_plugin_error& error) {
    error.message[XERVO_PLUGIN_MESSAGE_MAX - 1] = '\0';
    const std::string message(error.message, strnlen(error.message, XERVO_PLUGIN_MESSAGE_MAX));
    return "plugin '" + id + "': " + what + " failed" +
           (message.empty() ? " with status " + std::to_string(status) : ": " + message);
  }

 private:
  std::shared_ptr<const PluginLibrary> library_;
  xervo_plugin_model* model_;
  uint32_t dimensions_;
  mutable std::mutex serial_;
};

struct CancelBridge {
  explicit CancelBridge(std::stop_token token) : token_(std::move(token)) {
    c_.is_cancelled = [](void* user) -> int {
      return static_cast<CancelBridge*>(user)->token_.stop_requested();
    };
    c_.user = this;
  }
  const xervo_plugin_cancel* get() const { return &c_; }

 private:
  std::stop_token token_;
  xervo_plugin_cancel c_{};
};

std::vector<xervo_plugin_text> texts_of(std::span<const std::string> inputs) {
  std::vector<xervo_plugin_text> out;
  out.reserve(inputs.size());
  for (const auto& s : inputs) out.push_back({s.data(), s.size()});
  return out;
}

class PluginEmbedding final : public EmbeddingModel {
 public:
  explicit PluginEmbedding(std::shared_ptr<PluginModel> model) : model_(std::move(model)) {}

  Result<Embeddings> embed(std::span<const std::string> inputs, const EmbedOptions& options) override {
    const uint32_t dims = model_->dimensions();
    if (options.dimensions && (*options.dimensions <= 0 || static_cast<uint32_t>(*options.dimensions) > dims))
      return Error(ErrorCode::invalid_input, "dimensions must be between 1 and " + std::to_string(dims) +
                                                 " for this model (plugin '" + model_->id() + "')");
    Embeddings out;
    out.dimensions = static_cast<int>(dims);
    if (inputs.empty()) return out;
    if (options.cancel.stop_requested()) return Error(ErrorCode::cancelled, "embedding cancelled");
    const auto texts = texts_of(inputs);
    std::vector<float> flat(inputs.size() * dims, std::nanf(""));
    uint32_t written = 0;
    int64_t prompt_tokens = 0;
    CancelBridge cancel(options.cancel);
    auto r = model_->invoke("embed", [&](xervo_plugin_model* m, xervo_plugin_error* e) {
      return model_->api().embed(m, texts.data(), texts.size(), flat.data(), flat.size(), &written,
                                 &prompt_tokens, cancel.get(), e);
    });
    if (!r.ok()) return r.error();
    if (written != dims)
      return Error(ErrorCode::inference_failed, "plugin '" + model_->id() + "': embed wrote vectors of " +
                                                    std::to_string(written) + " dimensions, its model has " +
                                                    std::to_string(dims));
    if (!std::all_of(flat.begin(), flat.end(), [](float v) { return std::isfinite(v); }))
      return Error(ErrorCode::inference_failed,
                   "plugin '" + model_->id() + "': embed left values unset or not finite (NaN or infinity)");
    out.vectors.resize(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i)
      out.vectors[i].assign(flat.begin() + static_cast<std::ptrdiff_t>(i * dims),
                            flat.begin() + static_cast<std::ptrdiff_t>((i + 1) * dims));
    out.usage.prompt_tokens = std::max<int64_t>(0, prompt_tokens);
    shape_vectors(out, options.dimensions, false);
    return out;
  }

  int dimensions() const override { return static_cast<int>(model_->dimensions()); }

 private:
  std::shared_ptr<PluginModel> model_;
};

class PluginReranker final : public RerankerModel {
 public:
  explicit PluginReranker(std::shared_ptr<PluginModel> model) : model_(std::move(model)) {}

  Result<Reranking> rerank(std::string_view query, std::span<const std::string> documents,
                           std::optional<size_t> top_n, std::stop_token cancel_token) override {
    Reranking out;
    if (documents.empty()) return out;
    if (cancel_token.stop_requested()) return Error(ErrorCode::cancelled, "rerank cancelled");
    const auto texts = texts_of(documents);
    std::vector<double> scores(documents.size(), std::nan(""));
    int64_t prompt_tokens = 0;
    CancelBridge cancel(cancel_token);
    auto r = model_->invoke("rerank", [&](xervo_plugin_model* m, xervo_plugin_error* e) {
      return model_->api().rerank(m, {query.data(), query.size()}, texts.data(), texts.size(), scores.data(),
                                  &prompt_tokens, cancel.get(), e);
    });
    if (!r.ok()) return r.error();
    for (size_t i = 0; i < scores.size(); ++i) {
      if (!std::isfinite(scores[i]))
        return Error(ErrorCode::inference_failed, "plugin '" + model_->id() + "': rerank gave document " +
                                                      std::to_string(i) + " no finite score");
      out.results.push_back({i, scores[i]});
    }
    std::stable_sort(out.results.begin(), out.results.end(),
                     [](const RerankResult& a, const RerankResult& b) { return a.score > b.score; });
    if (top_n && *top_n < out.results.size()) out.results.resize(*top_n);
    out.usage.prompt_tokens = std::max<int64_t>(0, prompt_tokens);
    return out;
  }

 private:
  std::shared_ptr<PluginModel> model_;
};

// What the piece callback needs; the plugin gets it as `void*`.
struct PieceSink {
  const TokenCallback* on_piece = nullptr;
  std::stop_token cancel;
  std::string text;
  bool stopped = false;
};

int receive_piece(void* user, const char* piece, size_t size) {
  auto* sink = static_cast<PieceSink*>(user);
  if (sink->stopped) return 0;
  if (piece && size > 0) {
    std::string_view p(piece, size);
    sink->text.append(p);
    if (*sink->on_piece && !(*sink->on_piece)(p)) sink->stopped = true;
  }
  if (sink->cancel.stop_requested()) sink->stopped = true;
  return sink->stopped ? 0 : 1;
}

class PluginGenerator final : public GeneratorModel {
 public:
  explicit PluginGenerator(std::shared_ptr<PluginModel> model) : model_(std::move(model)) {}

  Result<GenerateResult> generate(const GenerateRequest& request, const TokenCallback& on_piece) override {
    const auto& o = request.options;
    const std::string name = "plugin '" + model_->id() + "'";
    if (!request.tools.empty() && request.tool_choice.mode != ToolChoice::Mode::none)
      return Error(ErrorCode::capability_mismatch, name + " generators take no tools");
    if (o.n != 1)
      return Error(ErrorCode::capability_mismatch, name + " generators make one sequence (n = 1)");
    if (o.logprobs) return Error(ErrorCode::capability_mismatch, name + " generators report no logprobs");
    if (o.max_tokens < 1) return Error(ErrorCode::invalid_input, "max_tokens must be at least 1");
    std::string prompt = request.prompt;
    if (!request.messages.empty()) {
      prompt.clear();
      for (const auto& m : request.messages) prompt += m.role + ": " + m.content + "\n";
      prompt += "assistant:";
    }
    xervo_plugin_generate_params params{};
    params.max_tokens = o.max_tokens;
    params.temperature = o.temperature;
    params.top_p = o.top_p;
    params.top_k = o.top_k;
    params.has_seed = o.seed.has_value();
    params.seed = o.seed.value_or(0);
    params.json_schema = o.json_schema.empty() ? nullptr : o.json_schema.c_str();

    PieceSink sink;
    sink.on_piece = &on_piece;
    sink.cancel = request.cancel;
    xervo_plugin_generate_result result{};
    result.finish = XERVO_PLUGIN_FINISH_STOP;
    CancelBridge cancel(request.cancel);
    auto r = model_->invoke("generate", [&](xervo_plugin_model* m, xervo_plugin_error* e) {
      return model_->api().generate(m, {prompt.data(), prompt.size()}, &params, &receive_piece, &sink,
                                    &result, cancel.get(), e);
    });
    const bool cancelled = sink.stopped || request.cancel.stop_requested();
    if (!r.ok() && !(cancelled && r.error().code() == ErrorCode::cancelled)) return r.error();
    GenerateResult out;
    out.text = std::move(sink.text);
    out.finish_reason = cancelled                                     ? FinishReason::cancelled
                        : result.finish == XERVO_PLUGIN_FINISH_LENGTH ? FinishReason::length
                                                                      : FinishReason::stop;
    out.usage.prompt_tokens = std::max<int64_t>(0, result.prompt_tokens);
    out.usage.completion_tokens = std::max<int64_t>(0, result.completion_tokens);
    return out;
  }

 private:
  std::shared_ptr<PluginModel> model_;
};

class PluginProvider final : public ModelProvider {
 public:
  PluginProvider(std::shared_ptr<const PluginLibrary> library, nlohmann::json settings)
      : library_(std::move(library)), settings_(std::move(settings)) {}

  std::string id() const override { return library_->id; }

  ProviderCapabilities capabilities() const override {
    ProviderCapabilities c;
    const uint32_t tasks = library_->api->tasks;
    if (tasks & XERVO_PLUGIN_TASK_EMBED) c.tasks.push_back(ModelTask::embed);
    if (tasks & XERVO_PLUGIN_TASK_RERANK) c.tasks.push_back(ModelTask::rerank);
    if (tasks & XERVO_PLUGIN_TASK_GENERATE) c.tasks.push_back(ModelTask::generate);
    c.streaming = (tasks & XERVO_PLUGIN_TASK_GENERATE) != 0;
    return c;
  }

  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback& progress) override {
    const uint32_t task = task_bit(spec.task);
    if (!(library_->api->tasks & task))
      return Error(ErrorCode::capability_mismatch, "plugin '" + id() + "' (" + library_->path.string() +
                                                       ") does not serve the " +
                                                       std::string(to_string(spec.task)) + " task");
    const std::string settings = settings_.dump();
    const std::string options = spec.options.dump();
    xervo_plugin_model* handle = nullptr;
    xervo_plugin_model_info info;
    std::memset(&info, 0, sizeof info);
    xervo_plugin_error error;
    std::memset(&error, 0, sizeof error);
    int status = XERVO_PLUGIN_INTERNAL;
    try {
      status = library_->api->load(spec.model.c_str(), task, settings.c_str(), options.c_str(), &handle,
                                   &info, &error);
    } catch (...) {
      return Error(ErrorCode::internal, "plugin '" + id() + "': load threw an exception across the C ABI");
    }
    if (status != XERVO_PLUGIN_OK) {
      const std::string message = PluginModel::failure_message(id(), "load", status, error);
      if (handle) library_->api->unload(handle);
      return Error(plugin_error_code(status) == ErrorCode::internal ? ErrorCode::model_load_failed
                                                                    : plugin_error_code(status),
                   "alias '" + display_name(spec) + "': " + message);
    }
    if (!handle)
      return Error(ErrorCode::model_load_failed, "alias '" + display_name(spec) + "': plugin '" + id() +
                                                     "': load returned OK and no model");
    if (spec.task == ModelTask::embed && (info.dimensions == 0 || info.dimensions > kMaxDimensions)) {
      library_->api->unload(handle);
      return Error(ErrorCode::model_load_failed, "alias '" + display_name(spec) + "': plugin '" + id() +
                                                     "': load reported " + std::to_string(info.dimensions) +
                                                     " dimensions (1 to " + std::to_string(kMaxDimensions) +
                                                     ")");
    }
    auto model =
        std::make_shared<PluginModel>(library_, handle, spec.task == ModelTask::embed ? info.dimensions : 0);
    LoadedModel loaded;
    switch (spec.task) {
      case ModelTask::embed:
        loaded.embedding = std::make_shared<PluginEmbedding>(model);
        break;
      case ModelTask::rerank:
        loaded.reranker = std::make_shared<PluginReranker>(model);
        break;
      case ModelTask::generate:
        loaded.generator = std::make_shared<PluginGenerator>(model);
        break;
    }
    loaded.memory_bytes = info.memory_bytes;
    loaded.memory.weights = info.memory_bytes;
    info.fingerprint[sizeof info.fingerprint - 1] = '\0';
    const std::string fingerprint(info.fingerprint, strnlen(info.fingerprint, sizeof info.fingerprint));
    if (!fingerprint.empty())
      loaded.fingerprint = "plugin|" + id() + "|" + library_->version + "|" + fingerprint;
    loaded.info = {{"plugin", library_->path.string()}, {"plugin_version", library_->version}};
    if (spec.task == ModelTask::embed) loaded.info["dimensions"] = info.dimensions;
    if (progress) progress(1.0f, "ready");
    return loaded;
  }
  using ModelProvider::load;

  ProviderHealth health() override { return {true, "plugin " + library_->path.string(), 0}; }

 private:
  std::shared_ptr<const PluginLibrary> library_;
  nlohmann::json settings_;
};

}  // namespace

std::shared_ptr<ModelProvider> make_plugin_provider(std::shared_ptr<const PluginLibrary> library,
                                                    nlohmann::json settings) {
  return std::make_shared<PluginProvider>(std::move(library), std::move(settings));
}

}  // namespace xervo
