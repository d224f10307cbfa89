// The onnx provider: a Hugging Face model folder whose weights are an ONNX graph (model.onnx beside
// config.json and the tokenizer files) served for embed and rerank through ONNX Runtime, loaded at
// run time (ort_library.h), with llama.cpp's WordPiece as the tokenizer (vocabulary.h).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "providers/onnx/graph_plan.h"
#include "providers/onnx/model_folder.h"
#include "providers/onnx/ort_library.h"
#include "providers/onnx/task_models.h"
#include "xervo/providers.h"

#ifndef XERVO_ONNXRUNTIME_LIBRARY
#define XERVO_ONNXRUNTIME_LIBRARY ""
#endif

namespace xervo::onnx {
namespace {

int thread_count(const Options& o) {
  if (o.threads > 0) return o.threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Activations of the largest run (batch_size inputs of context_size tokens): a few hidden-state
// copies and the feed-forward layer per token, and one layer's attention scores. ONNX Runtime
// reports no buffer sizes, so this is an upper-bound estimate, not a measurement.
uint64_t compute_estimate(const hfconvert::BertConfig& c, const Options& o, ModelTask task) {
  const uint64_t batch = static_cast<uint64_t>(o.batch_size);
  const uint64_t seq =
      static_cast<uint64_t>(o.context_size > 0 ? std::min(o.context_size, c.max_positions) : c.max_positions);
  const uint64_t per_token = 4ull * c.hidden_size + static_cast<uint64_t>(c.intermediate_size);
  const uint64_t attention = static_cast<uint64_t>(c.num_heads) * seq;
  (void)task;
  return batch * seq * (per_token + attention) * sizeof(float);
}

nlohmann::json describe(const ModelFolder& f, const GraphPlan& plan, const Options& o, const Session& s,
                        bool normalize) {
  nlohmann::json inputs = nlohmann::json::array(), outputs = nlohmann::json::array();
  for (const auto& v : s.inputs()) inputs.push_back(v.name);
  for (const auto& v : s.outputs()) outputs.push_back(v.name);
  return {{"engine", "onnxruntime " + s.library().version()},
          {"library", s.library().path().string()},
          {"file", f.graph.string()},
          {"file_size", f.graph_bytes},
          {"architecture", f.checkpoint.config.architecture},
          {"n_embd", f.checkpoint.config.hidden_size},
          {"n_layer", f.checkpoint.config.num_layers},
          {"n_ctx_train", f.checkpoint.config.max_positions},
          {"n_ctx", plan.max_tokens},
          {"batch_size", o.batch_size},
          {"threads", thread_count(o)},
          {"inputs", inputs},
          {"output", plan.output},
          {"pooling", plan.per_token ? std::string(to_string(plan.pooling)) : "graph"},
          {"normalize", normalize},
          {"tokenizer", "llama.cpp WordPiece (" + f.checkpoint.vocab.source.filename().string() + ")"}};
}

template <typename Handle, typename Call>
std::function<Result<void>()> warmup_with(const std::shared_ptr<Handle>& handle, Call call) {
  return [weak = std::weak_ptr<Handle>(handle), call]() -> Result<void> {
    auto h = weak.lock();
    if (!h) return Error(ErrorCode::unavailable, "model unloaded");
    if (auto r = call(*h); !r) return r.error();
    return {};
  };
}

class OnnxProvider final : public ModelProvider {
 public:
  explicit OnnxProvider(nlohmann::json settings) : settings_(std::move(settings)) {}

  std::string id() const override { return "onnx"; }

  ProviderCapabilities capabilities() const override {
    ProviderCapabilities caps;
    caps.tasks = {ModelTask::embed, ModelTask::rerank};
    return caps;
  }

  std::vector<std::string> setting_keys() const override { return option_keys(); }

  ProviderHealth health() override {
    ProviderHealth h;
    auto o = parse_options(settings_, nlohmann::json::object(), XERVO_ONNXRUNTIME_LIBRARY);
    if (!o) return {false, o.error().message(), 0};
    auto lib = OrtLibrary::open(o->library);
    if (!lib) return {false, lib.error().message(), 0};
    h.detail = "onnxruntime " + (*lib)->version() + " (" + o->library + "), " +
               std::to_string(thread_count(*o)) + " threads";
    return h;
  }

  using ModelProvider::load;
  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback& progress) override {
    return load(spec, progress, LoadControl{});
  }

  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback& progress,
                           const LoadControl& control) override {
    auto o = prepare(spec);
    if (!o) return o.error();
    auto folder = find_model_folder(spec.model);
    if (!folder) return folder.error();
    const std::string name = folder->graph.string();
    const auto go_on = [&](float fraction, std::string_view stage) {
      return !control.should_stop() && progress(fraction, stage);
    };
    if (!go_on(0.0f, "reading")) return control.stop_error("loading " + name);
    auto lib = OrtLibrary::open(o->library);
    if (!lib) return lib.error();
    auto vocab = Vocabulary::load(folder->checkpoint, name);
    if (!vocab) return vocab.error();
    if (!go_on(0.1f, "session")) return control.stop_error("loading " + name);
    // ONNX Runtime reads and optimizes the graph in one call that cannot be interrupted.
    auto session = Session::create(*lib, folder->graph, thread_count(*o), name);
    if (!session) return session.error();
    if (!go_on(0.9f, "checking")) return control.stop_error("loading " + name);
    auto plan = plan_graph(spec.task, **session, *folder, *o);
    if (!plan) return plan.error();
    return make_task(spec.task, *folder, *o, std::move(*vocab), std::move(*session), *plan, progress);
  }

  Result<MemoryEstimate> estimate(const ModelSpec& spec, const LoadControl& control) override {
    auto o = prepare(spec);
    if (!o) return o.error();
    auto folder = find_model_folder(spec.model);
    if (!folder) return folder.error();
    if (control.should_stop()) return control.stop_error("estimating " + folder->graph.string());
    MemoryEstimate m;
    m.weights = folder->graph_bytes;  // int8 and f32 graphs alike are read whole into memory
    m.compute = compute_estimate(folder->checkpoint.config, *o, spec.task);
    return m;
  }

 private:
  Result<Options> prepare(const ModelSpec& spec) const {
    auto o = parse_options(settings_, spec.options, XERVO_ONNXRUNTIME_LIBRARY);
    if (!o) return o.error();
    if (spec.task != ModelTask::embed && spec.task != ModelTask::rerank)
      return Error(ErrorCode::capability_mismatch,
                   "the onnx provider serves embed and rerank, not " + std::string(to_string(spec.task)));
    return o;
  }

  static Result<LoadedModel> make_task(ModelTask task, const ModelFolder& folder, const Options& o,
                                       std::shared_ptr<const Vocabulary> vocab,
                                       std::unique_ptr<Session> session, const GraphPlan& plan,
                                       const ProgressCallback& progress) {
    const std::string name = folder.graph.string();
    // Normalize as the folder's sentence-transformers modules say; without any, as llama.cpp does.
    const bool declared = folder.checkpoint.pooling_declared || folder.checkpoint.normalize;
    const bool normalize = o.normalize.value_or(declared ? folder.checkpoint.normalize : true);
    LoadedModel loaded;
    loaded.info = describe(folder, plan, o, *session, task == ModelTask::embed && normalize);
    loaded.memory.weights = folder.graph_bytes;
    loaded.memory.compute = compute_estimate(folder.checkpoint.config, o, task);
    loaded.memory_bytes = loaded.memory.total();
    auto encoder = std::make_unique<Encoder>(std::move(session), plan, o, name);
    if (task == ModelTask::embed) {
      const int dims = plan.width > 0 ? plan.width : folder.checkpoint.config.hidden_size;
      auto handle = std::make_shared<OnnxEmbedding>(std::move(vocab), std::move(encoder), normalize, dims);
      loaded.warmup = warmup_with(handle, [](OnnxEmbedding& h) {
        const std::string text = "warmup";
        return h.embed(std::span<const std::string>(&text, 1), {});
      });
      loaded.embedding = std::move(handle);
    } else {
      auto handle = std::make_shared<OnnxReranker>(std::move(vocab), std::move(encoder));
      loaded.warmup = warmup_with(handle, [](OnnxReranker& h) {
        const std::string doc = "warmup";
        return h.rerank("warmup", std::span<const std::string>(&doc, 1), std::nullopt, {});
      });
      loaded.reranker = std::move(handle);
    }
    if (progress) progress(1.0f, "loaded");
    spdlog::info("onnx: loaded {} for {} ({}, output {}, context {})", name, to_string(task),
                 loaded.info["engine"].get<std::string>(), plan.output, plan.max_tokens);
    return loaded;
  }

  nlohmann::json settings_;
};

}  // namespace
}  // namespace xervo::onnx

namespace xervo {

std::shared_ptr<ModelProvider> make_onnx_provider(const nlohmann::json& settings) {
  return std::make_shared<onnx::OnnxProvider>(settings);
}

}  // namespace xervo
