#include "providers/whisper/whisper_device.h"

#include <ggml-backend.h>

#include "core/log.h"
#include "core/memory_budget.h"
#include "providers/llamacpp/llama_backend.h"

namespace xervo::whisper {

std::string gpu_device_name() {
  llamacpp::ensure_backend();
  // whisper_backend_init_gpu's choice with gpu_device = 0: the first device of type GPU or iGPU.
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    const auto type = ggml_backend_dev_type(dev);
    if (type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU)
      return ggml_backend_dev_name(dev);
  }
  return {};
}

std::string room_on(const std::string& device, uint64_t bytes, uint64_t margin) {
  ggml_backend_dev_t dev = ggml_backend_dev_by_name(device.c_str());
  if (!dev) return device + " is not a ggml device";
  size_t free = 0, total = 0;
  ggml_backend_dev_memory(dev, &free, &total);
  if (free >= margin && free - margin >= bytes) return {};
  return fmt::format("{} has {} free; the model needs {} and gpu_margin_mb keeps {} free", device, format_bytes(free),
                     format_bytes(bytes), format_bytes(margin));
}

MemoryEstimate on_device(MemoryEstimate estimate, const std::string& device) {
  if (!device.empty()) estimate.devices[device] = estimate.total();
  return estimate;
}

}  // namespace xervo::whisper
