// The interface every engine or remote API implements. A provider knows nothing of aliases: it
// loads a ModelSpec's model and returns typed task handles. Providers must be safe to call from
// any thread; `load` may be called concurrently for different specs (never twice for one key at
// once: the registry guarantees that).
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "xervo/embedding.h"
#include "xervo/error.h"
#include "xervo/generator.h"
#include "xervo/model_spec.h"
#include "xervo/reranker.h"
#include "xervo/transcriber.h"

namespace xervo {

struct ProviderCapabilities {
  std::vector<ModelTask> tasks;  // tasks this provider can serve
  bool streaming = false;        // GeneratorModel streams piece by piece
  bool json_schema = false;      // constrained output
  bool supports(ModelTask task) const;
};

// Called during a load: fraction in [0, 1] and a short stage name ("reading", "warmup"). Returns
// false when the load should stop (its caller cancelled or its deadline passed): a provider that can
// abort midway (llama.cpp's own progress callback aborts when it returns false) stops and returns
// the LoadControl's stop_error(). Made from any callable taking (float, std::string_view): one that
// returns void (a plain progress reporter) counts as "go on". Empty by default; calling an empty
// one returns true.
class ProgressCallback {
 public:
  ProgressCallback() = default;
  ProgressCallback(std::nullptr_t) {}  // NOLINT: empty, as std::function
  template <typename F>
  requires(!std::same_as<std::remove_cvref_t<F>, ProgressCallback> &&
           std::invocable<std::decay_t<F>&, float, std::string_view>)
      ProgressCallback(F&& f) {  // NOLINT: implicit, as std::function
    using Fn = std::decay_t<F>;
    if constexpr (std::is_void_v<std::invoke_result_t<Fn&, float, std::string_view>>)
      fn_ = [g = Fn(std::forward<F>(f))](float fraction, std::string_view stage) mutable {
        g(fraction, stage);
        return true;
      };
    else
      fn_ = Fn(std::forward<F>(f));
  }

  // Whether the load may go on.
  bool operator()(float fraction, std::string_view stage) const { return fn_ ? fn_(fraction, stage) : true; }
  explicit operator bool() const { return static_cast<bool>(fn_); }

 private:
  std::function<bool(float, std::string_view)> fn_;
};

// How long one load (or resolution) may run: a stop token and a deadline, both optional. A default
// LoadControl never stops. Plain value; the token may be shared across threads.
struct LoadControl {
  std::stop_token cancel;                                         // request_stop() abandons the load
  std::optional<std::chrono::steady_clock::time_point> deadline;  // past it the load is abandoned

  // True once stop was requested or the deadline has passed.
  bool should_stop() const;
  // What an abandoned load returns: cancelled after a stop request, timeout after the deadline.
  // `what` names the work ("loading embed/fast").
  Error stop_error(std::string_view what) const;
};

// Local memory a model takes, by what llama.cpp (or another engine) allocates it for. Before a load
// it is an estimate; after, what the engine reports it allocated. Remote models take none.
struct MemoryEstimate {
  uint64_t weights = 0;   // model tensors (mapped or read)
  uint64_t kv_cache = 0;  // KV cache (or other per-context state) at the configured context and slots
  uint64_t compute = 0;   // compute (scratch) buffers
  // The part of the above in a GPU device's own memory, by ggml device name ("Vulkan0", "CUDA0");
  // the rest is host memory (RAM, mapped files). Empty when everything is on the host.
  std::map<std::string, uint64_t> devices;
  uint64_t total() const { return weights + kv_cache + compute; }
  uint64_t device_total() const;
  uint64_t host() const;  // total() less device_total()
};

// The result of a load: handles for the task of the spec (a provider may fill more than one),
// released when the last shared_ptr to them goes.
struct LoadedModel {
  std::shared_ptr<EmbeddingModel> embedding;
  std::shared_ptr<RerankerModel> reranker;
  std::shared_ptr<GeneratorModel> generator;
  std::shared_ptr<TranscriberModel> transcriber;
  uint64_t memory_bytes = 0;  // what the model holds, as measured after the load (memory.total() or more)
  MemoryEstimate memory;      // the same, by kind, when the provider can tell (all zero otherwise)
  nlohmann::json info = nlohmann::json::object();  // provider facts (architecture, context, ...)
  // What decides this model's answers besides the spec, as a stable string: a local file's path,
  // size and modification time, a remote API's address and model. The response cache keys answers
  // by it, so a new file or version never serves an old answer; empty: answers are never cached.
  std::string fingerprint;
  // Where the engine put the model, when that is worth saying: "cpu", "Vulkan0: 24 of 24 layers",
  // "cpu (fallback: ...)" after a GPU load failed. Shown in ModelRecord::placement.
  std::string placement;
  // Optional: one small run so that the first real request is not slow.
  std::function<Result<void>()> warmup;

  bool has(ModelTask task) const;
};

// A compute device a local engine can run on (ggml's backend devices for llama.cpp and whisper.cpp).
struct ComputeDevice {
  std::string name;           // "CPU", "Vulkan0", "CUDA0"
  std::string description;    // "Intel(R) Xeon(R) ...", "llvmpipe (LLVM 15.0.7, 256 bits)"
  std::string backend;        // the backend that drives it: "CPU", "Vulkan", "CUDA"
  std::string type;           // "cpu", "gpu", "igpu", "accel"
  uint64_t memory_total = 0;  // bytes (for a CPU: the machine's memory)
  uint64_t memory_free = 0;
};

struct ProviderHealth {
  bool ok = true;
  std::string detail;  // "cpu, 2 threads", "https://api.openai.com: 200 in 85 ms"
  double latency_ms = 0;
};

class ModelProvider {
 public:
  virtual ~ModelProvider() = default;
  virtual std::string id() const = 0;
  virtual ProviderCapabilities capabilities() const = 0;
  virtual Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback& progress) = 0;
  // The same load, bounded by `control` (the registry always calls this one). The default checks
  // `control` before the load and relies on `progress` returning false for the rest; a provider that
  // resolves ids or downloads overrides it to hand `control` on (ModelResolver::resolve). A provider
  // that overrides one overload and not the other adds `using ModelProvider::load;`.
  virtual Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback& progress,
                                   const LoadControl& control);
  // What loading `spec` would take, without loading it (weights from the file's tensor types and
  // shapes, KV cache at the configured context and slots, compute buffers). The registry charges it
  // to the memory budget before the load. An error here is the load's error (a missing file). The
  // default, for remote providers: nothing local.
  virtual Result<MemoryEstimate> estimate(const ModelSpec& spec, const LoadControl& control);
  virtual ProviderHealth health() { return {}; }
  // The devices this provider's engine sees (none for remote providers, the default).
  virtual std::vector<ComputeDevice> devices() { return {}; }
  // The keys this provider reads from its [providers.ID] table and from a spec's `options`; build()
  // refuses any other key there (config_invalid naming the key and its file:line). Empty (the
  // default): the provider checks its own keys, at load.
  virtual std::vector<std::string> setting_keys() const { return {}; }
};

// Turns model ids that are not plain paths ("library:ID", "hf:ORG/REPO:Q4_K_M") into local files.
// Implemented by the model library; local providers take one optionally.
class ModelResolver {
 public:
  virtual ~ModelResolver() = default;
  // Whether this resolver understands the id at all (by its scheme).
  virtual bool handles(std::string_view model_id) const = 0;
  // The file for the id; `allow_pull` lets it download what is missing.
  virtual Result<std::filesystem::path> resolve(std::string_view model_id, bool allow_pull) = 0;
  // The same, bounded by `control`: a pull is abandoned (keeping what it downloaded for the next
  // try) once control.should_stop(). The default checks `control` before the plain resolve;
  // the model library overrides it to stop a pull midway.
  virtual Result<std::filesystem::path> resolve(std::string_view model_id, bool allow_pull,
                                                const LoadControl& control);
};

}  // namespace xervo
