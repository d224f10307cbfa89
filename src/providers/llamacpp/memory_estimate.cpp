#include "providers/llamacpp/memory_estimate.h"

#include <ggml-backend.h>

// llama.cpp's staging API: llama_get_memory_breakdown (exported by libllama, C++ types).
#include "llama-ext.h"
#include "providers/llamacpp/context_plan.h"
#include "providers/llamacpp/llama_backend.h"
#include "providers/llamacpp/llama_handles.h"

namespace xervo::llamacpp {
namespace {

void add(MemoryEstimate& to, const llama_memory_breakdown_data& from) {
  to.weights += from.model;
  to.kv_cache += from.context;
  to.compute += from.compute;
}

}  // namespace

MemoryEstimate ContextMemory::all() const {
  MemoryEstimate e{host.weights + device.weights, host.kv_cache + device.kv_cache, host.compute + device.compute};
  e.devices = device.devices;
  return e;
}

ContextMemory memory_of(const llama_context* ctx) {
  ContextMemory out;
  // One entry per buffer type: CPU, CPU_Mapped (mmapped weights), CPU_REPACK, a GPU's, its host
  // pinned buffers. Host types are RAM whatever their name; the rest is a device's own memory.
  // Device memory is also kept by device, for the budget's per-device part.
  for (const auto& [buft, data] : llama_get_memory_breakdown(ctx)) {
    if (!buft || ggml_backend_buft_is_host(buft)) {
      add(out.host, data);
      continue;
    }
    add(out.device, data);
    ggml_backend_dev_t dev = ggml_backend_buft_get_device(buft);
    const char* name = dev ? ggml_backend_dev_name(dev) : ggml_backend_buft_name(buft);
    out.device.devices[name ? name : "gpu"] += data.model + data.context + data.compute;
  }
  return out;
}

nlohmann::json describe_memory(const ContextMemory& memory) {
  const MemoryEstimate all = memory.all();
  return {{"weights", all.weights},
          {"kv_cache", all.kv_cache},
          {"compute", all.compute},
          {"device_bytes", memory.device.total()}};
}

Result<MemoryEstimate> estimate_memory(ModelTask task, const std::filesystem::path& path,
                                       const GgufFacts& facts, const Options& options) {
  const std::string name = path.string();
  llama_model_params mparams = model_params(options);
  // Tensors get a dummy buffer and no data is read; llama.cpp still sizes every buffer it would make.
  mparams.no_alloc = true;
  mparams.load_mode = LLAMA_LOAD_MODE_NONE;
  LogCapture capture;  // thread-local: other threads' loads keep logging as before
  ModelPtr model(llama_model_load_from_file(name.c_str(), mparams));
  if (!model)
    return Error(ErrorCode::model_load_failed,
                 capture.reason("cannot estimate the memory of " + name + ": llama.cpp rejected the file"));
  auto plan = plan_context(task, model.get(), facts, options, name);
  if (!plan) return plan.error();
  // With a no_alloc model the context reserves its graphs and records the compute buffer sizes
  // instead of allocating them; the KV cache is laid out the same way.
  ContextPtr ctx(llama_init_from_model(model.get(), plan->params));
  if (!ctx)
    return Error(ErrorCode::model_load_failed,
                 capture.reason("cannot size a context for " + name + " (context_size " +
                                std::to_string(plan->per_seq) + " x parallel " +
                                std::to_string(plan->n_seq_max) + ")"));
  return memory_of(ctx.get()).all();
}

}  // namespace xervo::llamacpp
