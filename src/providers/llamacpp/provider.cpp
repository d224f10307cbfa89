// The llamacpp provider: resolves a model id to a GGUF file, checks the file, loads it with
// llama.cpp, creates the context for the spec's task and starts that model's scheduler.
#include <algorithm>
#include <limits>
#include <thread>

#include "core/log.h"
#include "providers/llamacpp/gguf_check.h"
#include "providers/llamacpp/llama_backend.h"
#include "providers/llamacpp/task_models.h"
#include "xervo/providers.h"

namespace xervo::llamacpp {
namespace {

constexpr int kDefaultGenerateContext = 4096;  // a model's training context can be far larger
constexpr int kDefaultPooledContext = 8192;

bool has_scheme(std::string_view id) {
  // "library:x", "hf:org/repo": a lowercase word then ':' before any path separator.
  const size_t colon = id.find(':');
  if (colon == std::string_view::npos || colon < 2) return false;
  for (size_t i = 0; i < colon; ++i)
    if (!std::islower(static_cast<unsigned char>(id[i])) && id[i] != '-' && id[i] != '_') return false;
  return true;
}

enum llama_pooling_type to_llama(Pooling p) {
  switch (p) {
    case Pooling::none:
      return LLAMA_POOLING_TYPE_NONE;
    case Pooling::mean:
      return LLAMA_POOLING_TYPE_MEAN;
    case Pooling::cls:
      return LLAMA_POOLING_TYPE_CLS;
    case Pooling::last:
      return LLAMA_POOLING_TYPE_LAST;
    case Pooling::rank:
      return LLAMA_POOLING_TYPE_RANK;
    case Pooling::model:
      return LLAMA_POOLING_TYPE_UNSPECIFIED;
  }
  return LLAMA_POOLING_TYPE_UNSPECIFIED;
}

std::string_view pooling_name(enum llama_pooling_type p) {
  switch (p) {
    case LLAMA_POOLING_TYPE_NONE:
      return "none";
    case LLAMA_POOLING_TYPE_MEAN:
      return "mean";
    case LLAMA_POOLING_TYPE_CLS:
      return "cls";
    case LLAMA_POOLING_TYPE_LAST:
      return "last";
    case LLAMA_POOLING_TYPE_RANK:
      return "rank";
    default:
      return "unspecified";
  }
}

std::string reason_from(const std::string& log, const std::string& fallback) {
  if (log.empty()) return fallback;
  // The first error llama.cpp logged names the cause ("key not found in model: llama.context_length");
  // the later ones only say that loading failed.
  std::string line = log.substr(0, log.find('\n'));
  if (const size_t at = line.find("error loading model: "); at != std::string::npos)
    line = line.substr(at + 21);
  return fallback + ": " + line;
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
    ensure_backend();
    auto options = parse_options(settings_, spec.options);
    if (!options) return options.error();
    auto path = resolve(spec.model, options->pull);
    if (!path) return path.error();
    auto facts = inspect_gguf(*path);
    if (!facts) return facts.error();
    if (auto fit = check_task_fit(*path, *facts, spec.task, options->pooling); !fit) return fit.error();
    if (progress) progress(0.0f, "reading");
    auto model = load_model(*path, *options, progress);
    if (!model) return model.error();
    return make_task(spec.task, *path, *facts, *options, std::move(*model), progress);
  }

 private:
  static int default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

  Result<std::filesystem::path> resolve(const std::string& id, bool pull) {
    if (id.empty()) return Error(ErrorCode::invalid_input, "no model given: set model to a .gguf path");
    if (resolver_ && resolver_->handles(id)) return resolver_->resolve(id, pull);
    if (has_scheme(id))
      return Error(ErrorCode::model_not_found,
                   "model '" + id +
                       "' names a library or hub model, but the model library is not available "
                       "to the llamacpp provider: give a .gguf path instead");
    return std::filesystem::path(id);
  }

  static Result<std::shared_ptr<const llama_model>> load_model(const std::filesystem::path& path,
                                                               const Options& o,
                                                               const ProgressCallback& progress) {
    auto params = llama_model_default_params();
    params.n_gpu_layers = o.gpu_layers;
    params.load_mode = o.mmap ? (o.mlock ? LLAMA_LOAD_MODE_MMAP_MLOCK : LLAMA_LOAD_MODE_MMAP)
                              : (o.mlock ? LLAMA_LOAD_MODE_MLOCK : LLAMA_LOAD_MODE_NONE);
    if (progress) {
      params.progress_callback = [](float fraction, void* user) {
        (*static_cast<const ProgressCallback*>(user))(fraction * 0.9f, "reading");
        return true;
      };
      params.progress_callback_user_data = const_cast<ProgressCallback*>(&progress);
    }
    LogCapture capture;
    ModelPtr model(llama_model_load_from_file(path.c_str(), params));
    if (!model)
      return Error(
          ErrorCode::model_load_failed,
          reason_from(capture.errors(), "cannot load " + path.string() + ": llama.cpp rejected the file"));
    return std::shared_ptr<const llama_model>(std::move(model));
  }

  Result<LoadedModel> make_task(ModelTask task, const std::filesystem::path& path, const GgufFacts& facts,
                                const Options& o, std::shared_ptr<const llama_model> model,
                                const ProgressCallback& progress) {
    const std::string name = path.string();
    const llama_model* m = model.get();
    const int n_ctx_train = std::max(1, llama_model_n_ctx_train(m));
    const int threads = o.threads > 0 ? o.threads : default_threads();
    auto cparams = llama_context_default_params();
    cparams.n_threads = threads;
    cparams.n_threads_batch = threads;
    cparams.no_perf = true;
    int per_seq = 0, n_batch = 0, n_seq_max = 0;
    if (task == ModelTask::generate) {
      if (!llama_model_has_decoder(m))
        return Error(ErrorCode::model_load_failed, "cannot load " + name + ": the model has no decoder");
      per_seq = o.context_size > 0 ? o.context_size : std::min(n_ctx_train, kDefaultGenerateContext);
      n_seq_max = o.parallel > 0 ? o.parallel : 4;
      n_batch = o.batch_size > 0 ? o.batch_size : 512;
      if (static_cast<int64_t>(per_seq) * n_seq_max > std::numeric_limits<int32_t>::max())
        return Error(ErrorCode::config_invalid, name + ": context_size " + std::to_string(per_seq) +
                                                    " x parallel " + std::to_string(n_seq_max) +
                                                    " is too large");
      cparams.n_ctx = static_cast<uint32_t>(per_seq) * static_cast<uint32_t>(n_seq_max);
      cparams.n_batch = static_cast<uint32_t>(n_batch);
      cparams.n_ubatch = static_cast<uint32_t>(std::min(n_batch, 512));
      cparams.n_seq_max = static_cast<uint32_t>(n_seq_max);
      cparams.kv_unified = false;  // each slot its own cache cells: full context_size per request
      cparams.embeddings = false;
    } else {
      // Absolute position embeddings (BERT) end at the training context: never go past it.
      per_seq = std::min(o.context_size > 0 ? o.context_size : kDefaultPooledContext, n_ctx_train);
      if (o.context_size > n_ctx_train)
        spdlog::warn("{}: context_size {} is beyond the model's training context {}; using {}", name,
                     o.context_size, n_ctx_train, n_ctx_train);
      n_seq_max =
          std::min<int>(o.parallel > 0 ? o.parallel : 16, static_cast<int>(llama_max_parallel_sequences()));
      // Inputs packed into one batch attend over the whole batch (masked), so cost grows with its
      // square: a 512-token batch is the sweet spot llama.cpp's server also uses.
      n_batch = std::max(o.batch_size > 0 ? o.batch_size : 512, per_seq);
      cparams.n_ctx = static_cast<uint32_t>(n_batch);
      cparams.n_batch = static_cast<uint32_t>(n_batch);
      cparams.n_ubatch = static_cast<uint32_t>(n_batch);  // a non-causal input must fit one micro-batch
      cparams.n_seq_max = static_cast<uint32_t>(n_seq_max);
      cparams.kv_unified = true;  // the cache is cleared before every batch; any input may use it all
      cparams.embeddings = true;
      Pooling pooling = task == ModelTask::rerank ? Pooling::rank : o.pooling;
      if (pooling == Pooling::model && !facts.pooling_type) {
        spdlog::warn("{}: the file names no pooling type; using mean pooling (set option pooling)", name);
        pooling = Pooling::mean;
      }
      cparams.pooling_type = to_llama(pooling);
    }
    if (progress) progress(0.9f, "context");
    ThreadpoolPtr pool = make_threadpool(threads);  // declared first: outlives ctx on every path
    ContextPtr ctx;
    {
      LogCapture capture;
      ctx.reset(llama_init_from_model(const_cast<llama_model*>(m), cparams));
      if (!ctx)
        return Error(
            ErrorCode::model_load_failed,
            reason_from(capture.errors(), "cannot create a context for " + name + " (context_size " +
                                              std::to_string(per_seq) + " x parallel " +
                                              std::to_string(n_seq_max) + "): lower them or free memory"));
    }
    if (pool) llama_attach_threadpool(ctx.get(), pool.get(), nullptr);

    LoadedModel loaded;
    loaded.memory_bytes = llama_model_size(m) + kv_estimate(m, ctx.get());
    char desc[256] = {0};
    llama_model_desc(m, desc, sizeof desc);
    const enum llama_pooling_type pooling = llama_pooling_type(ctx.get());
    loaded.info = {{"architecture", facts.architecture},
                   {"file", name},
                   {"file_size", facts.file_size},
                   {"description", desc},
                   {"n_params", llama_model_n_params(m)},
                   {"n_embd", llama_model_n_embd(m)},
                   {"n_layer", llama_model_n_layer(m)},
                   {"n_ctx_train", n_ctx_train},
                   {"n_ctx", per_seq},
                   {"parallel", n_seq_max},
                   {"batch_size", n_batch},
                   {"threads", threads},
                   {"chat_template", facts.has_chat_template},
                   {"pooling", task == ModelTask::generate ? "none" : pooling_name(pooling)}};

    SchedulerConfig config{name, n_batch, n_seq_max, per_seq, o.queue_limit};
    if (task != ModelTask::generate) config.gather = std::chrono::milliseconds(o.gather_ms);
    ModelSetup setup{model, name, o, per_seq};
    if (task == ModelTask::generate) {
      auto chat = ChatTemplate::create(m, name);
      if (!chat) return chat.error();
      auto scheduler = std::make_unique<GenerationScheduler>(model, std::move(pool), std::move(ctx), config,
                                                             ComputeLane::shared());
      auto handle =
          std::make_shared<LlamaGenerator>(std::move(setup), std::move(*chat), std::move(scheduler));
      std::weak_ptr<LlamaGenerator> weak = handle;
      loaded.warmup = [weak]() -> Result<void> {
        auto h = weak.lock();
        if (!h) return Error(ErrorCode::unavailable, "model unloaded");
        GenerateRequest req;
        req.prompt = "Hello";
        req.options.max_tokens = 1;
        req.options.temperature = 0;
        auto r = h->generate(req);
        if (!r) return r.error();
        return {};
      };
      loaded.generator = std::move(handle);
    } else {
      if (pooling == LLAMA_POOLING_TYPE_NONE)
        return Error(ErrorCode::model_load_failed, "cannot load " + name + ": the context has no pooling");
      int n_outputs = llama_model_n_embd_out(m);
      if (task == ModelTask::rerank) n_outputs = static_cast<int>(llama_model_n_cls_out(m));
      if (n_outputs <= 0) n_outputs = llama_model_n_embd(m);
      auto scheduler = std::make_unique<PooledScheduler>(model, std::move(pool), std::move(ctx), config,
                                                         n_outputs, ComputeLane::shared());
      if (task == ModelTask::embed) {
        auto handle = std::make_shared<LlamaEmbedding>(std::move(setup), std::move(scheduler));
        std::weak_ptr<LlamaEmbedding> weak = handle;
        loaded.warmup = [weak]() -> Result<void> {
          auto h = weak.lock();
          if (!h) return Error(ErrorCode::unavailable, "model unloaded");
          const std::string text = "warmup";
          auto r = h->embed(std::span<const std::string>(&text, 1), {});
          if (!r) return r.error();
          return {};
        };
        loaded.embedding = std::move(handle);
      } else {
        auto handle = std::make_shared<LlamaReranker>(std::move(setup), std::move(scheduler));
        std::weak_ptr<LlamaReranker> weak = handle;
        loaded.warmup = [weak]() -> Result<void> {
          auto h = weak.lock();
          if (!h) return Error(ErrorCode::unavailable, "model unloaded");
          const std::string doc = "warmup";
          auto r = h->rerank("warmup", std::span<const std::string>(&doc, 1), std::nullopt, {});
          if (!r) return r.error();
          return {};
        };
        loaded.reranker = std::move(handle);
      }
    }
    if (progress) progress(1.0f, "loaded");
    spdlog::info("llamacpp: loaded {} ({}, {} for {}, context {} x {})", name, facts.architecture, desc,
                 to_string(task), per_seq, n_seq_max);
    return loaded;
  }

  // The KV cache: 2 (K and V) x layers x cells x kv width x f16; 0 for models without one.
  static uint64_t kv_estimate(const llama_model* m, llama_context* ctx) {
    if (!llama_get_memory(ctx)) return 0;
    const uint64_t n_head = std::max(1, llama_model_n_head(m));
    const uint64_t head_dim = static_cast<uint64_t>(llama_model_n_embd(m)) / n_head;
    const uint64_t kv_width = head_dim * static_cast<uint64_t>(std::max(1, llama_model_n_head_kv(m)));
    return 2ull * static_cast<uint64_t>(llama_model_n_layer(m)) * llama_n_ctx(ctx) * kv_width * 2ull;
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
