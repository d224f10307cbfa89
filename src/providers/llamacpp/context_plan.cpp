#include "providers/llamacpp/context_plan.h"

#include <algorithm>
#include <limits>
#include <thread>

#include "core/log.h"

namespace xervo::llamacpp {
namespace {

constexpr int kDefaultGenerateContext = 4096;  // a model's training context can be far larger
constexpr int kDefaultPooledContext = 8192;

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

Result<void> plan_generation(ContextPlan& plan, const llama_model* m, const Options& o, int n_ctx_train,
                             const std::string& name) {
  if (!llama_model_has_decoder(m))
    return Error(ErrorCode::model_load_failed, "cannot load " + name + ": the model has no decoder");
  plan.per_seq = o.context_size > 0 ? o.context_size : std::min(n_ctx_train, kDefaultGenerateContext);
  plan.n_seq_max = o.parallel > 0 ? o.parallel : 4;
  // Every running stream puts one token into each step's batch: it holds at least one per slot.
  plan.n_batch = std::max(o.batch_size > 0 ? o.batch_size : 512, plan.n_seq_max);
  if (static_cast<int64_t>(plan.per_seq) * plan.n_seq_max > std::numeric_limits<int32_t>::max())
    return Error(ErrorCode::config_invalid, name + ": context_size " + std::to_string(plan.per_seq) +
                                                " x parallel " + std::to_string(plan.n_seq_max) +
                                                " is too large");
  auto& c = plan.params;
  c.n_ctx = static_cast<uint32_t>(plan.per_seq) * static_cast<uint32_t>(plan.n_seq_max);
  c.n_batch = static_cast<uint32_t>(plan.n_batch);
  c.n_ubatch = static_cast<uint32_t>(std::min(plan.n_batch, 512));
  c.n_seq_max = static_cast<uint32_t>(plan.n_seq_max);
  c.kv_unified = false;  // each slot its own cache cells: full context_size per request
  c.embeddings = false;
  return {};
}

void plan_pooled(ContextPlan& plan, ModelTask task, const GgufFacts& facts, const Options& o, int n_ctx_train,
                 const std::string& name) {
  // Absolute position embeddings (BERT) end at the training context: never go past it.
  plan.per_seq = std::min(o.context_size > 0 ? o.context_size : kDefaultPooledContext, n_ctx_train);
  if (o.context_size > n_ctx_train)
    spdlog::warn("{}: context_size {} is beyond the model's training context {}; using {}", name,
                 o.context_size, n_ctx_train, n_ctx_train);
  plan.n_seq_max =
      std::min<int>(o.parallel > 0 ? o.parallel : 16, static_cast<int>(llama_max_parallel_sequences()));
  // Inputs packed into one batch attend over the whole batch (masked), so cost grows with its
  // square: a 512-token batch is the sweet spot llama.cpp's server also uses.
  plan.n_batch = std::max(o.batch_size > 0 ? o.batch_size : 512, plan.per_seq);
  auto& c = plan.params;
  c.n_ctx = static_cast<uint32_t>(plan.n_batch);
  c.n_batch = static_cast<uint32_t>(plan.n_batch);
  c.n_ubatch = static_cast<uint32_t>(plan.n_batch);  // a non-causal input must fit one micro-batch
  c.n_seq_max = static_cast<uint32_t>(plan.n_seq_max);
  c.kv_unified = true;  // the cache is cleared before every batch; any input may use it all
  c.embeddings = true;
  Pooling pooling = task == ModelTask::rerank ? Pooling::rank : o.pooling;
  if (pooling == Pooling::model && !facts.pooling_type) {
    spdlog::warn("{}: the file names no pooling type; using mean pooling (set option pooling)", name);
    pooling = Pooling::mean;
  }
  c.pooling_type = to_llama(pooling);
}

}  // namespace

int default_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

Result<ContextPlan> plan_context(ModelTask task, const llama_model* m, const GgufFacts& facts,
                                 const Options& o, const std::string& name) {
  ContextPlan plan;
  plan.threads = o.threads > 0 ? o.threads : default_threads();
  plan.params = llama_context_default_params();
  plan.params.n_threads = plan.threads;
  plan.params.n_threads_batch = plan.threads;
  plan.params.no_perf = true;
  const int n_ctx_train = std::max(1, llama_model_n_ctx_train(m));
  if (task == ModelTask::generate) {
    if (auto r = plan_generation(plan, m, o, n_ctx_train, name); !r) return r.error();
  } else {
    plan_pooled(plan, task, facts, o, n_ctx_train, name);
  }
  return plan;
}

llama_model_params model_params(const Options& o) {
  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = o.gpu_layers;
  if (!o.gpu_layers_auto) set_devices(params, o.gpu_layers);
  params.load_mode = o.mmap ? (o.mlock ? LLAMA_LOAD_MODE_MMAP_MLOCK : LLAMA_LOAD_MODE_MMAP)
                            : (o.mlock ? LLAMA_LOAD_MODE_MLOCK : LLAMA_LOAD_MODE_NONE);
  return params;
}

void set_devices(llama_model_params& params, int gpu_layers) {
  static ggml_backend_dev_t no_gpu[] = {nullptr};  // an empty list: llama.cpp adds the CPU itself
  params.devices = gpu_layers == 0 ? no_gpu : nullptr;
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

uint64_t kv_estimate(const llama_model* m, llama_context* ctx) {
  if (!llama_get_memory(ctx)) return 0;
  const uint64_t n_head = std::max(1, llama_model_n_head(m));
  const uint64_t head_dim = static_cast<uint64_t>(llama_model_n_embd(m)) / n_head;
  const uint64_t kv_width = head_dim * static_cast<uint64_t>(std::max(1, llama_model_n_head_kv(m)));
  return 2ull * static_cast<uint64_t>(llama_model_n_layer(m)) * llama_n_ctx(ctx) * kv_width * 2ull;
}

}  // namespace xervo::llamacpp
