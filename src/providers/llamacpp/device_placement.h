// Which device a model's layers go to: gpu_layers = "auto" asks llama.cpp's parameter fitting
// (common_fit_params) how many layers fit in the GPU devices' free memory, and a load that fails
// with layers on a GPU is retried on the CPU (the reason kept for the model's record). Internal to
// the provider; safe from any thread.
#pragma once

#include <llama.h>

#include <filesystem>
#include <string>
#include <vector>

#include "providers/llamacpp/options.h"

namespace xervo::llamacpp {

struct LayerPlacement {
  int gpu_layers = 0;  // what llama_model_params.n_gpu_layers gets
  std::string note;    // "auto: 12 layers fit on the GPU devices", "auto: no GPU device"
  std::string offloaded;  // after a load: llama.cpp's own count, "2/3" (layers on a GPU / offloadable)
  // common_fit_params fills these for multi-device splits; llama_model_params points into them.
  std::vector<float> tensor_split;
  std::vector<llama_model_tensor_buft_override> overrides;
  void apply(llama_model_params& params);
};

// Whether ggml has any non-CPU device (GPU, integrated GPU, accelerator).
bool has_gpu_device();

// What a load logged about offloading ("load_tensors: offloaded 2/3 layers to GPU"): "2/3", or "".
std::string offload_count(const std::string& log_line);

// "2/3 layers on Vulkan0" (llama.cpp's count and the GPU devices ggml offers), or "N layers on the
// GPU devices" when llama.cpp said nothing.
std::string describe_offload(const LayerPlacement& placement);

// The placement for `o` (gpu_layers as given, or fitted when "auto") of the model at `path`.
LayerPlacement place_layers(const std::filesystem::path& path, const Options& o);

}  // namespace xervo::llamacpp
