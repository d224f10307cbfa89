// The interface every engine or remote API implements. A provider knows nothing of aliases: it
// loads a ModelSpec's model and returns typed task handles. Providers must be safe to call from
// any thread; `load` may be called concurrently for different specs (never twice for one key at
// once: the registry guarantees that).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/embedding.h"
#include "xervo/error.h"
#include "xervo/generator.h"
#include "xervo/model_spec.h"
#include "xervo/reranker.h"

namespace xervo {

struct ProviderCapabilities {
  std::vector<ModelTask> tasks;  // tasks this provider can serve
  bool streaming = false;        // GeneratorModel streams piece by piece
  bool json_schema = false;      // constrained output
  bool supports(ModelTask task) const;
};

// Called during a load: fraction in [0, 1] and a short stage name ("reading", "warmup").
using ProgressCallback = std::function<void(float fraction, std::string_view stage)>;

// The result of a load: handles for the task of the spec (a provider may fill more than one),
// released when the last shared_ptr to them goes.
struct LoadedModel {
  std::shared_ptr<EmbeddingModel> embedding;
  std::shared_ptr<RerankerModel> reranker;
  std::shared_ptr<GeneratorModel> generator;
  uint64_t memory_bytes = 0;                      // estimate of memory held by this model
  nlohmann::json info = nlohmann::json::object();  // provider facts (architecture, context, ...)
  // Optional: one small run so that the first real request is not slow.
  std::function<Result<void>()> warmup;

  bool has(ModelTask task) const;
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
  virtual ProviderHealth health() { return {}; }
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
};

}  // namespace xervo
