// Where whisper.cpp runs a model. whisper.cpp shares llama.cpp's ggml (one ggml in the process), so
// with `use_gpu` it takes the first GPU device that ggml offers (a Vulkan build: Vulkan0), the same
// devices `xervo status` lists; without one it runs on the CPU.
#pragma once

#include <string>

#include "xervo/provider.h"

namespace xervo::whisper {

// The ggml name of the device whisper.cpp uses with use_gpu ("Vulkan0"), or "" when ggml has no GPU.
std::string gpu_device_name();

// "" when `device` has `bytes` free beside `margin`; else why not, in words ("Vulkan0 has 300 MiB
// free; the model needs 167 MiB and gpu_margin_mb keeps 512 MiB free").
std::string room_on(const std::string& device, uint64_t bytes, uint64_t margin);

// `estimate` with all of it on `device` (whisper.cpp keeps the weights, caches and compute buffers
// of a GPU model on the device); unchanged when `device` is "".
MemoryEstimate on_device(MemoryEstimate estimate, const std::string& device);

}  // namespace xervo::whisper
