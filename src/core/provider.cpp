// The parts of the provider interface (include/xervo/provider.h) that are not pure: capability
// checks, load bounds and the bounded defaults of load() and resolve().
#include "xervo/provider.h"

namespace xervo {

bool ProviderCapabilities::supports(ModelTask task) const {
  for (auto t : tasks)
    if (t == task) return true;
  return false;
}

uint64_t MemoryEstimate::device_total() const {
  uint64_t bytes = 0;
  for (const auto& [device, n] : devices) bytes += n;
  return bytes;
}

uint64_t MemoryEstimate::host() const {
  const uint64_t all = total(), on_devices = device_total();
  return all > on_devices ? all - on_devices : 0;
}

bool LoadedModel::has(ModelTask task) const {
  switch (task) {
    case ModelTask::embed:
      return embedding != nullptr;
    case ModelTask::rerank:
      return reranker != nullptr;
    case ModelTask::generate:
      return generator != nullptr;
    case ModelTask::transcribe:
      return transcriber != nullptr;
  }
  return false;
}

bool LoadControl::should_stop() const {
  if (cancel.stop_requested()) return true;
  return deadline && std::chrono::steady_clock::now() >= *deadline;
}

Error LoadControl::stop_error(std::string_view what) const {
  if (cancel.stop_requested())
    return Error(ErrorCode::cancelled, std::string(what) + ": cancelled by the caller");
  return Error(ErrorCode::timeout, std::string(what) +
                                       ": the deadline passed (raise request_timeout_s or load "
                                       "the model ahead with warmup = \"eager\")");
}

Result<LoadedModel> ModelProvider::load(const ModelSpec& spec, const ProgressCallback& progress,
                                        const LoadControl& control) {
  if (control.should_stop()) return control.stop_error("loading " + display_name(spec));
  return load(spec, progress);
}

Result<MemoryEstimate> ModelProvider::estimate(const ModelSpec&, const LoadControl&) {
  return MemoryEstimate{};
}

Result<std::filesystem::path> ModelResolver::resolve(std::string_view model_id, bool allow_pull,
                                                     const LoadControl& control) {
  if (control.should_stop()) return control.stop_error("resolving " + std::string(model_id));
  return resolve(model_id, allow_pull);
}

}  // namespace xervo
