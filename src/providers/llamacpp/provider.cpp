// The llamacpp provider: resolves a model id to a GGUF file, checks the file, loads it with
// llama.cpp, creates the context for the spec's task and starts that model's scheduler.
#include <algorithm>
#include <chrono>
#include <string>

#include "core/log.h"
#include "providers/llamacpp/context_plan.h"
#include "providers/llamacpp/device_placement.h"
#include "providers/llamacpp/gguf_check.h"
#include "providers/llamacpp/llama_backend.h"
#include "providers/llamacpp/llama_engine.h"
#include "providers/llamacpp/memory_estimate.h"
#include "providers/llamacpp/task_models.h"
#include "xervo/providers.h"

namespace xervo::llamacpp {
namespace {

bool has_scheme(std::string_view id) {
  // "library:x", "hf:org/repo": a lowercase word then ':' before any path separator.
  const size_t colon = id.find(':');
  if (colon == std::string_view::npos || colon < 2) return false;
  for (size_t i = 0; i < colon; ++i)
    if (!std::islower(static_cast<unsigned char>(id[i])) && id[i] != '-' && id[i] != '_') return false;
  return true;
}

// A loaded model's warm-up: one tiny request through the handle, if it is still loaded.
template <typename Handle, typename Call>
std::function<Result<void>()> warmup_with(const std::shared_ptr<Handle>& handle, Call call) {
  return [weak = std::weak_ptr<Handle>(handle), call]() -> Result<void> {
    auto h = weak.lock();
    if (!h) return Error(ErrorCode::unavailable, "model unloaded");
    if (auto r = call(*h); !r) return r.error();
    return {};
  };
}

Result<std::unique_ptr<LlamaEngine>> create_engine(std::shared_ptr<const llama_model> model,
                                                   const ContextPlan& plan, const std::string& name) {
  ThreadpoolPtr pool = make_threadpool(plan.threads);  // handed to the engine, which frees it after ctx
  ContextPtr ctx;
  {
    LogCapture capture;
    ctx.reset(llama_init_from_model(const_cast<llama_model*>(model.get()), plan.params));
    if (!ctx)
      return Error(ErrorCode::model_load_failed,
                   capture.reason("cannot create a context for " + name + " (context_size " +
                                  std::to_string(plan.per_seq) + " x parallel " +
                                  std::to_string(plan.n_seq_max) + "): lower them or free memory"));
  }
  if (pool) llama_attach_threadpool(ctx.get(), pool.get(), nullptr);
  return std::make_unique<LlamaEngine>(std::move(model), std::move(pool), std::move(ctx), plan.n_batch);
}

nlohmann::json describe(ModelTask task, const llama_model* m, const GgufFacts& facts, const ContextPlan& plan,
                        llama_context* ctx, const std::string& name) {
  char desc[256] = {0};
  llama_model_desc(m, desc, sizeof desc);
  return {{"architecture", facts.architecture},
          {"file", name},
          {"file_size", facts.file_size},
          {"description", desc},
          {"n_params", llama_model_n_params(m)},
          {"n_embd", llama_model_n_embd(m)},
          {"n_layer", llama_model_n_layer(m)},
          {"n_ctx_train", std::max(1, llama_model_n_ctx_train(m))},
          {"n_ctx", plan.per_seq},
          {"parallel", plan.n_seq_max},
          {"batch_size", plan.n_batch},
          {"threads", plan.threads},
          {"chat_template", facts.has_chat_template},
          {"pooling", task == ModelTask::generate ? "none" : pooling_name(llama_pooling_type(ctx))}};
}

void make_generator(LoadedModel& loaded, ModelSetup setup, std::unique_ptr<ChatTemplate> chat,
                    std::unique_ptr<LlamaEngine> engine, SchedulerConfig config) {
  auto handle = std::make_shared<LlamaGenerator>(std::move(setup), std::move(chat), std::move(engine),
                                                 std::move(config), ComputeLane::shared());
  loaded.warmup = warmup_with(handle, [](LlamaGenerator& h) {
    GenerateRequest req;
    req.prompt = "Hello";
    req.options.max_tokens = 1;
    req.options.temperature = 0;
    return h.generate(req);
  });
  loaded.generator = std::move(handle);
}

Result<std::unique_ptr<PooledScheduler>> pooled_scheduler(ModelTask task, const ModelSetup& setup,
                                                          std::unique_ptr<LlamaEngine> engine,
                                                          SchedulerConfig config) {
  const llama_model* m = setup.model.get();
  if (llama_pooling_type(engine->context()) == LLAMA_POOLING_TYPE_NONE)
    return Error(ErrorCode::model_load_failed, "cannot load " + setup.name + ": the context has no pooling");
  int n_outputs = llama_model_n_embd_out(m);
  if (task == ModelTask::rerank) n_outputs = static_cast<int>(llama_model_n_cls_out(m));
  if (n_outputs <= 0) n_outputs = llama_model_n_embd(m);
  return std::make_unique<PooledScheduler>(std::move(engine), std::move(config), n_outputs,
                                           ComputeLane::shared());
}

Result<void> make_embedding(LoadedModel& loaded, ModelSetup setup, std::unique_ptr<LlamaEngine> engine,
                            SchedulerConfig config) {
  auto scheduler = pooled_scheduler(ModelTask::embed, setup, std::move(engine), std::move(config));
  if (!scheduler) return scheduler.error();
  auto handle = std::make_shared<LlamaEmbedding>(std::move(setup), std::move(*scheduler));
  loaded.warmup = warmup_with(handle, [](LlamaEmbedding& h) {
    const std::string text = "warmup";
    return h.embed(std::span<const std::string>(&text, 1), {});
  });
  loaded.embedding = std::move(handle);
  return {};
}

Result<void> make_reranker(LoadedModel& loaded, ModelSetup setup, std::unique_ptr<LlamaEngine> engine,
                           SchedulerConfig config) {
  // The file's "rerank" template is copied into every pair: bound it like a chat template.
  const size_t max_template = ChatTemplateLimits{}.max_source_bytes;
  if (const char* t = llama_model_chat_template(setup.model.get(), "rerank");
      t && std::char_traits<char>::length(t) > max_template)
    return Error(ErrorCode::model_load_failed, "cannot load " + setup.name +
                                                   ": its rerank template is longer than " +
                                                   std::to_string(max_template) + " bytes");
  auto scheduler = pooled_scheduler(ModelTask::rerank, setup, std::move(engine), std::move(config));
  if (!scheduler) return scheduler.error();
  auto handle = std::make_shared<LlamaReranker>(std::move(setup), std::move(*scheduler));
  loaded.warmup = warmup_with(handle, [](LlamaReranker& h) {
    const std::string doc = "warmup";
    return h.rerank("warmup", std::span<const std::string>(&doc, 1), std::nullopt, {});
  });
  loaded.reranker = std::move(handle);
  return {};
}

class LlamaCppProvider final : public ModelProvider {
 public:
  LlamaCppProvider(nlohmann::json settings, std::shared_ptr<ModelResolver> resolver)
      : settings_(std::move(settings)), resolver_(std::move(resolver)) {}

  std::string id() const override { return "llamacpp"; }

  ProviderCapabilities capabilities() const override {
    ProviderCapabilities caps;
    caps.tasks = {ModelTask::embed, ModelTask::rerank, ModelTask::generate};
    caps.streaming = true;
    caps.json_schema = true;
    return caps;
  }

  std::vector<ComputeDevice> devices() override { return list_devices(); }

  ProviderHealth health() override {
    ProviderHealth h;
    auto options = parse_options(settings_, nlohmann::json::object());
    const int threads = options && options->threads > 0 ? options->threads : default_threads();
    h.ok = true;
    h.detail = backend_description() + ", " + std::to_string(threads) + " threads";
    if (!options) {
      h.ok = false;
      h.detail += "; " + options.error().message();
    }
    return h;
  }

  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback& progress) override {
    return load(spec, progress, LoadControl{});
  }

  // Bounded: a pull stops through the resolver, and reading the weights stops when `progress` (which
  // the registry makes from the same bounds) returns false.
  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback& progress,
                           const LoadControl& control) override {
    auto file = prepare(spec, control);
    if (!file) return file.error();
    if (progress) progress(0.0f, "reading");
    // The weights, then the context (its KV cache also lives on the devices): either can fail on a
    // device that is short of memory or fails to initialise.
    const auto attempt = [&](LayerPlacement& placement) -> Result<LoadedModel> {
      auto model = load_model(file->path, file->options, placement, progress);
      if (!model) return model.error();
      return make_task(spec.task, file->path, file->facts, file->options, std::move(*model), progress);
    };
    LayerPlacement placement = place_layers(file->path, file->options);
    auto loaded = attempt(placement);
    const std::string layers = std::to_string(placement.gpu_layers);
    std::string where = placement.gpu_layers == 0 ? "cpu"
                        : has_gpu_device()        ? describe_offload(placement)
                                           : "cpu (no GPU device; gpu_layers " + layers + " has no effect)";
    if (!loaded && !control.should_stop() && placement.gpu_layers != 0 && has_gpu_device()) {
      // The CPU still serves. The first attempt's buffers are freed by now.
      spdlog::warn("llamacpp: loading {} with {} GPU layers failed ({}); loading it on the CPU",
                   file->path.string(), placement.gpu_layers, loaded.error().message());
      where = "cpu (fallback: " + loaded.error().message() + ")";
      placement = LayerPlacement{};
      loaded = attempt(placement);
    }
    if (!loaded && control.should_stop()) return control.stop_error("loading " + file->path.string());
    if (!loaded) return loaded.error();
    loaded->placement = placement.note.empty() ? where : where + "; " + placement.note;
    loaded->info["gpu_layers"] = placement.gpu_layers;
    return loaded;
  }

  // llama.cpp's own sizing of the load, from the file's metadata (see memory_estimate.h).
  Result<MemoryEstimate> estimate(const ModelSpec& spec, const LoadControl& control) override {
    auto file = prepare(spec, control);
    if (!file) return file.error();
    if (control.should_stop()) return control.stop_error("estimating " + file->path.string());
    return estimate_memory(spec.task, file->path, file->facts, file->options);
  }

 private:
  struct CheckedFile {
    Options options;
    std::filesystem::path path;
    GgufFacts facts;
  };

  // The options, the file and its facts, checked so that llama.cpp may open it (it aborts the process
  // on some malformed files): what a load and an estimate both start from.
  Result<CheckedFile> prepare(const ModelSpec& spec, const LoadControl& control) {
    ensure_backend();
    auto options = parse_options(settings_, spec.options);
    if (!options) return options.error();
    auto path = resolve(spec.model, options->pull, control);
    if (!path) return path.error();
    auto facts = inspect_gguf(*path);
    if (!facts) return facts.error();
    if (auto fit = check_task_fit(*path, *facts, spec.task, options->pooling); !fit) return fit.error();
    return CheckedFile{std::move(*options), std::move(*path), std::move(*facts)};
  }

  Result<std::filesystem::path> resolve(const std::string& id, bool pull, const LoadControl& control) {
    if (id.empty()) return Error(ErrorCode::invalid_input, "no model given: set model to a .gguf path");
    if (resolver_ && resolver_->handles(id)) return resolver_->resolve(id, pull, control);
    if (has_scheme(id))
      return Error(ErrorCode::model_not_found,
                   "model '" + id +
                       "' names a library or hub model, but the model library is not available "
                       "to the llamacpp provider: give a .gguf path instead");
    return std::filesystem::path(id);
  }

  static Result<std::shared_ptr<const llama_model>> load_model(const std::filesystem::path& path,
                                                               const Options& o, LayerPlacement& placement,
                                                               const ProgressCallback& progress) {
    llama_model_params params = model_params(o);
    placement.apply(params);
    if (progress) {
      // Returning false makes llama.cpp abandon the load (the caller's bounds ran out).
      params.progress_callback = [](float fraction, void* user) {
        return (*static_cast<const ProgressCallback*>(user))(fraction * 0.9f, "reading");
      };
      params.progress_callback_user_data = const_cast<ProgressCallback*>(&progress);
    }
    LogCapture capture;
    ModelPtr model(llama_model_load_from_file(path.c_str(), params));
    placement.offloaded = offload_count(capture.line_with("layers to GPU"));
    if (!model)
      return Error(ErrorCode::model_load_failed,
                   capture.reason("cannot load " + path.string() + ": llama.cpp rejected the file"));
    return std::shared_ptr<const llama_model>(model.release(), SharedModelDeleter{});
  }

  // The file's identity for the response cache: path, size and modification time (a rewrite or a
  // new version changes one of them; hashing gigabytes at each load would not pay for itself).
  static std::string file_fingerprint(const std::filesystem::path& path) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return {};
    const auto mtime = std::filesystem::last_write_time(path, ec);
    if (ec) return {};
    return "gguf:" + std::filesystem::absolute(path).string() + ":" + std::to_string(size) + ":" +
           std::to_string(mtime.time_since_epoch().count());
  }

  // The context, scheduler and handle for the spec's task over a loaded model.
  static Result<LoadedModel> make_task(ModelTask task, const std::filesystem::path& path,
                                       const GgufFacts& facts, const Options& o,
                                       std::shared_ptr<const llama_model> model,
                                       const ProgressCallback& progress) {
    const std::string name = path.string();
    auto plan = plan_context(task, model.get(), facts, o, name);
    if (!plan) return plan.error();
    std::unique_ptr<ChatTemplate> chat;
    if (task == ModelTask::generate) {  // checked before the context takes its memory
      ChatTemplateLimits limits;
      limits.probe_timeout = std::chrono::milliseconds(o.template_timeout_ms);
      auto created = ChatTemplate::create(model.get(), name, limits);
      if (!created) return created.error();
      chat = std::move(*created);
    }
    if (progress) progress(0.9f, "context");
    auto engine = create_engine(model, *plan, name);
    if (!engine) return engine.error();
    LoadedModel loaded;
    // llama.cpp's own buffer sizes; mmapped weights count in full (resident once touched).
    const ContextMemory memory = memory_of((*engine)->context());
    loaded.memory = memory.all();
    loaded.memory_bytes = loaded.memory.total() > 0 ? loaded.memory.total()
                                                    : llama_model_size(model.get()) +
                                                          kv_estimate(model.get(), (*engine)->context());
    loaded.info = describe(task, model.get(), facts, *plan, (*engine)->context(), name);
    loaded.info["memory"] = describe_memory(memory);
    loaded.fingerprint = file_fingerprint(path);
    SchedulerConfig config{name, plan->n_batch, plan->n_seq_max, plan->per_seq, o.queue_limit};
    if (task != ModelTask::generate) config.gather = std::chrono::milliseconds(o.gather_ms);
    ModelSetup setup{model, name, o, plan->per_seq};
    Result<void> made;
    if (task == ModelTask::generate)
      make_generator(loaded, std::move(setup), std::move(chat), std::move(*engine), std::move(config));
    else if (task == ModelTask::embed)
      made = make_embedding(loaded, std::move(setup), std::move(*engine), std::move(config));
    else
      made = make_reranker(loaded, std::move(setup), std::move(*engine), std::move(config));
    if (!made) return made.error();
    if (progress) progress(1.0f, "loaded");
    spdlog::info("llamacpp: loaded {} ({}, {} for {}, context {} x {})", name, facts.architecture,
                 loaded.info["description"].get<std::string>(), to_string(task), plan->per_seq,
                 plan->n_seq_max);
    return loaded;
  }

  nlohmann::json settings_;
  std::shared_ptr<ModelResolver> resolver_;
};

}  // namespace
}  // namespace xervo::llamacpp

namespace xervo {

std::shared_ptr<ModelProvider> make_llamacpp_provider(const nlohmann::json& settings,
                                                      std::shared_ptr<ModelResolver> resolver) {
  return std::make_shared<llamacpp::LlamaCppProvider>(settings, std::move(resolver));
}

}  // namespace xervo
