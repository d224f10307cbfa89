// The llama.cpp provider on a Vulkan device: the CPU build of these tests run against the Vulkan
// build of the same llama.cpp (run_vulkan_test.sh puts its libraries first on LD_LIBRARY_PATH; both
// builds come from one source, so their libraries are interchangeable), or a build configured with
// -DXERVO_GPU=vulkan. Here the device is Mesa's lavapipe (software Vulkan). Checked: the device is
// listed with its memory; a generated model gives the same greedy text on the device as on the CPU;
// gpu_layers = N offloads N layers (llama.cpp's count, in the record's placement, and the device
// memory grows with N); gpu_layers = "auto" decides from the device's free memory less the margin;
// a load the device cannot hold falls back to the CPU with llama.cpp's reason (VulkanFallback, run
// in its own process with GGML_VK_FORCE_MAX_BUFFER_SIZE, which ggml-vulkan reads once).
//
// Exit code 77 (ctest: skipped) when the Vulkan backend is loaded but finds no device.
#include <ggml-backend.h>

#include <cstdio>
#include <cstdlib>

#include "helpers.h"
#include "providers/llamacpp/device_placement.h"
#include "providers/llamacpp/llama_backend.h"

namespace xervo::testing {
namespace {

ComputeDevice vulkan_device() {
  for (const auto& d : llamacpp::list_devices())
    if (d.backend == "Vulkan") return d;
  return {};
}

struct GreedyRun {
  std::string placement;
  uint64_t device_bytes = 0;
  std::string text;
  std::vector<int32_t> tokens;
};

// Loads `file` with `options`, generates greedily from a fixed prompt, and unloads it.
GreedyRun greedy_run(const std::filesystem::path& file, nlohmann::json options, int max_tokens = 32) {
  GreedyRun run;
  auto loaded = load_or_fail(ModelTask::generate, file, std::move(options));
  if (!loaded.generator) return run;
  run.placement = loaded.placement;
  run.device_bytes = loaded.info.value("memory", nlohmann::json::object()).value("device_bytes", uint64_t{0});
  GenerateRequest request;
  request.prompt = "The quick brown fox jumps over the lazy dog. Once upon a time";
  request.options.temperature = 0;
  request.options.max_tokens = max_tokens;
  request.options.logprobs = true;
  auto result = loaded.generator->generate(request);
  if (!result) {
    ADD_FAILURE() << result.error().to_string();
    return run;
  }
  run.text = result->text;
  for (const auto& t : result->logprobs) run.tokens.push_back(t.id);
  return run;
}

// Offloadable layers of a generated generator: its repeating layers and the output layer.
int offloadable(int layers) { return layers + 1; }

TEST(VulkanDevices, TheDeviceIsListedWithItsMemory) {
  auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
  const auto devices = provider->devices();
  auto vk = std::find_if(devices.begin(), devices.end(), [](const ComputeDevice& d) { return d.backend == "Vulkan"; });
  ASSERT_NE(vk, devices.end());
  EXPECT_EQ(vk->name.rfind("Vulkan", 0), 0u) << vk->name;
  EXPECT_NE(vk->type, "cpu");
  EXPECT_FALSE(vk->description.empty());
  EXPECT_GT(vk->memory_total, 64u << 20);
  EXPECT_LE(vk->memory_free, vk->memory_total);
  std::printf("device: %s (%s), %s, %llu of %llu MiB free\n", vk->name.c_str(), vk->description.c_str(),
              vk->type.c_str(), static_cast<unsigned long long>(vk->memory_free >> 20),
              static_cast<unsigned long long>(vk->memory_total >> 20));
  EXPECT_TRUE(llamacpp::has_gpu_device());
}

TEST(VulkanGreedy, SameTextOnTheDeviceAsOnTheCpu) {
  for (const char* size : {"tiny", "small"}) {
    const auto file = test_model("generator", size);
    const GreedyRun cpu = greedy_run(file, {{"gpu_layers", 0}});
    const GreedyRun gpu = greedy_run(file, {{"gpu_layers", -1}});
    EXPECT_EQ(cpu.placement, "cpu");
    const int layers = std::string(size) == "tiny" ? 2 : 8;
    const std::string all = std::to_string(offloadable(layers));
    EXPECT_EQ(gpu.placement, all + "/" + all + " layers on " + vulkan_device().name) << size;
    EXPECT_EQ(cpu.device_bytes, 0u);
    EXPECT_GT(gpu.device_bytes, 0u);
    ASSERT_FALSE(cpu.text.empty()) << size;
    EXPECT_EQ(gpu.tokens.size(), cpu.tokens.size()) << size;
    EXPECT_EQ(gpu.tokens, cpu.tokens) << size;
    EXPECT_EQ(gpu.text, cpu.text) << size;
    std::printf("%s: %zu greedy tokens, same on the CPU and on %s: %s\n", size, cpu.tokens.size(),
                vulkan_device().name.c_str(), cpu.text == gpu.text ? "yes" : "NO");
  }
}

TEST(VulkanLayers, GpuLayersOffloadsThatMany) {
  const auto file = test_model("generator", "small");  // 8 repeating layers + the output layer
  const std::string device = vulkan_device().name;
  const GreedyRun cpu = greedy_run(file, {{"gpu_layers", 0}}, 8);
  uint64_t previous = 0;
  for (int n : {1, 3, 6, 9}) {
    const GreedyRun run = greedy_run(file, {{"gpu_layers", n}}, 8);
    EXPECT_EQ(run.placement, std::to_string(n) + "/9 layers on " + device);
    EXPECT_GT(run.device_bytes, previous) << n << " layers";  // more layers, more device memory
    previous = run.device_bytes;
    EXPECT_EQ(run.tokens, cpu.tokens) << n << " layers";
    std::printf("gpu_layers %d: placement \"%s\", %llu KiB on the device\n", n, run.placement.c_str(),
                static_cast<unsigned long long>(run.device_bytes >> 10));
  }
  // More than the model has: all of them, as llama.cpp counts.
  EXPECT_EQ(greedy_run(file, {{"gpu_layers", 50}}, 2).placement, "9/9 layers on " + device);
}

TEST(VulkanAuto, DecidesFromTheDevicesFreeMemory) {
  const auto file = test_model("generator", "small");
  const std::string device = vulkan_device().name;
  const int free_mib = static_cast<int>(vulkan_device().memory_free >> 20);
  ASSERT_GT(free_mib, 600) << "the test wants the default 512 MiB margin to leave room for the model";

  // The default margin (512 MiB) leaves room for all of a 113 MB model.
  const GreedyRun all = greedy_run(file, {{"gpu_layers", "auto"}}, 2);
  EXPECT_EQ(all.placement, "9/9 layers on " + device + "; gpu_layers auto: all layers on the GPU devices");

  // A margin as large as the free memory: nothing fits, the model stays on the CPU.
  const GreedyRun none = greedy_run(file, {{"gpu_layers", "auto"}, {"gpu_margin_mb", free_mib}}, 2);
  EXPECT_EQ(none.placement.rfind("cpu; gpu_layers auto: 0 layers", 0), 0u) << none.placement;
  EXPECT_EQ(none.device_bytes, 0u);

  // Room for part of it (the device memory of all layers, halved): some layers, not all.
  const int half_mib = static_cast<int>((all.device_bytes >> 20) / 2);
  const GreedyRun part = greedy_run(file, {{"gpu_layers", "auto"}, {"gpu_margin_mb", free_mib - half_mib}}, 2);
  const auto slash = part.placement.find('/');
  ASSERT_NE(slash, std::string::npos) << part.placement;
  const int n = std::atoi(part.placement.c_str());
  EXPECT_GT(n, 0) << part.placement;
  EXPECT_LT(n, 9) << part.placement;
  EXPECT_LT(part.device_bytes, all.device_bytes);
  std::printf("auto: margin 512 MiB: \"%s\"; margin %d MiB: \"%s\"; margin %d MiB: \"%s\"\n",
              all.placement.c_str(), free_mib, none.placement.c_str(), free_mib - half_mib,
              part.placement.c_str());
}

TEST(VulkanFallback, ALoadTheDeviceCannotHoldFallsBackToTheCpu) {
  const char* limit = std::getenv("GGML_VK_FORCE_MAX_BUFFER_SIZE");
  if (!limit) GTEST_SKIP() << "run by ctest (llamacpp_vulkan_fallback) with GGML_VK_FORCE_MAX_BUFFER_SIZE";
  const auto file = test_model("generator", "tiny");
  const GreedyRun cpu = greedy_run(file, {{"gpu_layers", 0}});
  const GreedyRun run = greedy_run(file, {{"gpu_layers", -1}});
  // llama.cpp's reason: a weights buffer larger than the largest the device allows.
  EXPECT_EQ(run.placement.rfind("cpu (fallback: ", 0), 0u) << run.placement;
  EXPECT_NE(run.placement.find("Vulkan"), std::string::npos) << run.placement;
  EXPECT_EQ(run.device_bytes, 0u);
  EXPECT_EQ(run.text, cpu.text);
  std::printf("fallback with GGML_VK_FORCE_MAX_BUFFER_SIZE=%s: \"%s\"\n", limit, run.placement.c_str());
}

}  // namespace
}  // namespace xervo::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  xervo::llamacpp::ensure_backend();
  if (!ggml_backend_reg_by_name("Vulkan")) {
    std::fprintf(stderr,
                 "the libggml loaded has no Vulkan backend: run through run_vulkan_test.sh with the Vulkan "
                 "llama.cpp (XERVO_GPU=vulkan scripts/bootstrap), or configure with -DXERVO_GPU=vulkan\n");
    return 1;
  }
  if (xervo::testing::vulkan_device().name.empty()) {
    std::printf("SKIP: ggml's Vulkan backend found no device (lavapipe: Debian's mesa-vulkan-drivers; "
                "ggml-vulkan takes a CPU-type device only when GGML_VK_VISIBLE_DEVICES names it)\n");
    return 77;
  }
  return RUN_ALL_TESTS();
}
