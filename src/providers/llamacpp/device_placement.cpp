#include "providers/llamacpp/device_placement.h"

#include <ggml-backend.h>

#include "fit.h"
#include "providers/llamacpp/context_plan.h"
#include "providers/llamacpp/llama_backend.h"

namespace xervo::llamacpp {

void LayerPlacement::apply(llama_model_params& params) {
  params.n_gpu_layers = gpu_layers;
  set_devices(params, gpu_layers);
  if (!tensor_split.empty()) params.tensor_split = tensor_split.data();
  if (!overrides.empty() && overrides.front().pattern) params.tensor_buft_overrides = overrides.data();
}

bool has_gpu_device() {
  ensure_backend();
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i)
    if (ggml_backend_dev_type(ggml_backend_dev_get(i)) != GGML_BACKEND_DEVICE_TYPE_CPU) return true;
  return false;
}

namespace {
std::string layer_count(int n) { return std::to_string(n) + (n == 1 ? " layer" : " layers"); }
}  // namespace

std::string offload_count(const std::string& log_line) {
  const size_t at = log_line.find("offloaded ");
  if (at == std::string::npos) return {};
  const size_t from = at + 10;
  const size_t to = log_line.find(' ', from);
  if (to == std::string::npos) return {};
  return log_line.substr(from, to - from);
}

std::string describe_offload(const LayerPlacement& placement) {
  if (placement.offloaded.empty())
    return layer_count(placement.gpu_layers) + " on the GPU devices";
  ensure_backend();
  std::string devices;
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    if (ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_CPU) continue;
    if (!devices.empty()) devices += ", ";
    devices += ggml_backend_dev_name(dev);
  }
  return placement.offloaded + " layers on " + (devices.empty() ? "the GPU devices" : devices);
}

LayerPlacement place_layers(const std::filesystem::path& path, const Options& o) {
  LayerPlacement p;
  p.gpu_layers = o.gpu_layers;
  if (!o.gpu_layers_auto) return p;
  p.gpu_layers = 0;
  if (!has_gpu_device()) {
    p.note = "gpu_layers auto: no GPU device, on the CPU";
    return p;
  }
  // common_fit_params wants the defaults it can change: n_gpu_layers unset (-1), no split yet.
  llama_model_params mparams = model_params(o);
  mparams.n_gpu_layers = llama_model_default_params().n_gpu_layers;
  llama_context_params cparams = llama_context_default_params();
  if (o.context_size > 0) cparams.n_ctx = static_cast<uint32_t>(o.context_size);
  p.tensor_split.assign(llama_max_devices(), 0.0f);
  p.overrides.assign(llama_max_tensor_buft_overrides(), llama_model_tensor_buft_override{nullptr, nullptr});
  std::vector<size_t> margins(llama_max_devices(), size_t(o.gpu_margin_mb) << 20);  // headroom per device
  LogCapture capture;
  const auto status =
      common_fit_params(path.c_str(), &mparams, &cparams, p.tensor_split.data(), p.overrides.data(),
                        margins.data(), cparams.n_ctx ? cparams.n_ctx : 512, nullptr, GGML_LOG_LEVEL_ERROR);
  if (status == COMMON_PARAMS_FIT_STATUS_ERROR) {
    p.note = capture.reason("gpu_layers auto: llama.cpp could not fit the model, on the CPU");
    p.tensor_split.clear();
    p.overrides.clear();
    return p;
  }
  // The fit leaves n_gpu_layers at its default (-1, all) when everything fits as it is.
  p.gpu_layers = mparams.n_gpu_layers < 0 ? -1 : mparams.n_gpu_layers;
  p.note = "gpu_layers auto: " +
           (p.gpu_layers < 0 ? std::string("all layers") : layer_count(p.gpu_layers)) +
           " on the GPU devices" +
           (status == COMMON_PARAMS_FIT_STATUS_FAILURE ? " (the fit fell short; the rest on the CPU)" : "");
  return p;
}

}  // namespace xervo::llamacpp
