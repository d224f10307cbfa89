// A test double for ModelProvider: loads are counted and can be made failing or blocking;
// models count their destructions; calls can be made to fail. Tests only.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "xervo/provider.h"

namespace xervo::testing {

struct FakeCounters {
  std::atomic<int> loads{0};
  std::atomic<int> destroyed{0};
  std::atomic<int> calls{0};
  std::atomic<int> inputs{0};  // embedding inputs computed
};

class FakeEmbedding : public EmbeddingModel {
 public:
  FakeEmbedding(std::shared_ptr<FakeCounters> c, int dims, std::optional<ErrorCode> fail)
      : c_(std::move(c)), dims_(dims), fail_(fail) {}
  ~FakeEmbedding() override { c_->destroyed++; }
  Result<Embeddings> embed(std::span<const std::string> inputs, const EmbedOptions&) override {
    c_->calls++;
    c_->inputs += static_cast<int>(inputs.size());
    if (fail_) return Error(*fail_, "fake embedding failure");
    Embeddings e;
    e.dimensions = dims_;
    for (const auto& in : inputs) e.vectors.emplace_back(dims_, static_cast<float>(in.size()));
    e.usage.prompt_tokens = static_cast<int64_t>(inputs.size());
    return e;
  }
  int dimensions() const override { return dims_; }

 private:
  std::shared_ptr<FakeCounters> c_;
  int dims_;
  std::optional<ErrorCode> fail_;
};

class FakeGenerator : public GeneratorModel {
 public:
  FakeGenerator(std::shared_ptr<FakeCounters> c, std::string reply, std::optional<ErrorCode> fail)
      : c_(std::move(c)), reply_(std::move(reply)), fail_(fail) {}
  ~FakeGenerator() override { c_->destroyed++; }
  using GeneratorModel::generate;
  Result<GenerateResult> generate(const GenerateRequest&, const TokenCallback& on_piece) override {
    c_->calls++;
    if (fail_) return Error(*fail_, "fake generation failure");
    if (on_piece) on_piece(reply_);
    GenerateResult r;
    r.text = reply_;
    return r;
  }

 private:
  std::shared_ptr<FakeCounters> c_;
  std::string reply_;
  std::optional<ErrorCode> fail_;
};

class FakeProvider : public ModelProvider {
 public:
  explicit FakeProvider(std::string id = "fake") : id_(std::move(id)) {}

  std::string id() const override { return id_; }
  ProviderCapabilities capabilities() const override {
    return {{ModelTask::embed, ModelTask::generate}, true, false};
  }
  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback& progress) override {
    return load(spec, progress, LoadControl{});
  }
  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback& progress,
                           const LoadControl& control) override {
    counters->loads++;
    if (on_load) {
      auto r = on_load(spec);
      if (!r.ok()) return r.error();
    }
    if (on_bounded_load) {
      auto r = on_bounded_load(spec, progress, control);
      if (!r.ok()) return r.error();
    }
    std::optional<ErrorCode> fail;
    if (spec.options.contains("fail_calls"))
      fail = parse_error_code(spec.options["fail_calls"].get<std::string>());
    LoadedModel m;
    m.memory_bytes = 1024;
    m.fingerprint = "fake:" + spec.model;  // the response cache keys answers by it
    // options.bytes: the model declares its size (estimate and measured alike), for budget tests.
    if (spec.options.contains("bytes")) m.memory_bytes = spec.options["bytes"].get<uint64_t>();
    // options.device_bytes: {"Vulkan0": N}: bytes on GPU devices besides the host's `bytes`.
    if (auto devices = device_bytes(spec); !devices.empty()) {
      m.memory.devices = std::move(devices);
      m.memory.weights = m.memory_bytes + m.memory.device_total();
      m.memory_bytes = m.memory.weights;
    }
    if (spec.task == ModelTask::embed)
      m.embedding = std::make_shared<FakeEmbedding>(counters, spec.options.value("dimensions", 4), fail);
    if (spec.task == ModelTask::generate)
      m.generator = std::make_shared<FakeGenerator>(counters, "reply from " + spec.model, fail);
    return m;
  }

  Result<MemoryEstimate> estimate(const ModelSpec& spec, const LoadControl&) override {
    MemoryEstimate e;
    if (spec.options.contains("bytes")) e.weights = spec.options["bytes"].get<uint64_t>();
    e.devices = device_bytes(spec);
    e.weights += e.device_total();
    return e;
  }

  static std::map<std::string, uint64_t> device_bytes(const ModelSpec& spec) {
    std::map<std::string, uint64_t> out;
    if (spec.options.contains("device_bytes"))
      for (const auto& [device, n] : spec.options["device_bytes"].items()) out[device] = n.get<uint64_t>();
    return out;
  }

  std::shared_ptr<FakeCounters> counters = std::make_shared<FakeCounters>();
  // Runs inside every load (on the loading thread): block or fail.
  std::function<Result<void>(const ModelSpec&)> on_load;
  // Runs after on_load with what the registry passed: the progress callback and the load's bounds.
  std::function<Result<void>(const ModelSpec&, const ProgressCallback&, const LoadControl&)> on_bounded_load;

 private:
  std::string id_;
};

inline ModelSpec fake_spec(std::string alias, ModelTask task = ModelTask::embed, std::string model = "m1") {
  ModelSpec s;
  s.alias = std::move(alias);
  s.task = task;
  s.provider = "fake";
  s.model = std::move(model);
  return s;
}

}  // namespace xervo::testing
