// The llama.cpp provider on a GPU backend of ggml (Vulkan, CUDA): the CPU build of these tests run
// against a GPU build of the same llama.cpp (run_gpu_test.sh puts its libraries first on
// LD_LIBRARY_PATH; both builds come from one source, so their libraries are interchangeable), or a
// build configured with -DXERVO_GPU=vulkan|cuda. XERVO_TEST_GPU_BACKEND names ggml's backend
// ("Vulkan", the default, or "CUDA"). Here the Vulkan device is Mesa's lavapipe (software Vulkan).
// With a device: it is listed with its memory; a generated model gives the same greedy text on the
// device as on the CPU (up to a near-tie, see expect_same_greedy); gpu_layers = N offloads N layers
// (llama.cpp's count, in the record's placement, and the device memory grows with N);
// gpu_layers = "auto" decides from the device's free memory less the margin; the device's memory
// budget counts what llama.cpp puts on it (GpuBudget); a load the device cannot hold falls back to
// the CPU with llama.cpp's reason (GpuFallback, Vulkan only: run in its own process with
// GGML_VK_FORCE_MAX_BUFFER_SIZE, which ggml-vulkan reads once).
// Without a device (the backend loaded but finding none: the CUDA build on a machine without an
// NVIDIA GPU or driver): only GpuAbsent runs, and models load on the CPU and say why.
#include <ggml-backend.h>

#include <cstdio>
#include <cstdlib>

#include "helpers.h"
#include "providers/llamacpp/device_placement.h"
#include "providers/llamacpp/llama_backend.h"

namespace xervo::testing {
namespace {

// ggml's name of the backend under test.
std::string backend() {
  const char* b = std::getenv("XERVO_TEST_GPU_BACKEND");
  return b && *b ? b : "Vulkan";
}

ComputeDevice gpu_device() {
  for (const auto& d : llamacpp::list_devices())
    if (d.backend == backend()) return d;
  return {};
}

struct GreedyRun {
  std::string placement;
  uint64_t device_bytes = 0;
  std::string text;
  std::vector<int32_t> tokens;
  std::vector<int32_t> runner_up;  // the second most likely token at each step
  std::vector<double> margin;      // logprob of the best token less that of the second
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
  request.options.top_logprobs = 2;
  auto result = loaded.generator->generate(request);
  if (!result) {
    ADD_FAILURE() << result.error().to_string();
    return run;
  }
  run.text = result->text;
  for (const auto& t : result->logprobs) {
    run.tokens.push_back(t.id);
    const bool two = t.top.size() >= 2;
    run.runner_up.push_back(two ? t.top[1].id : -1);
    run.margin.push_back(two ? t.top[0].logprob - t.top[1].logprob : 1e9);
  }
  return run;
}

// A generated model's weights are random, so its next-token distribution is nearly flat and two
// candidates can be a rounding error apart; the device's kernels round differently from the CPU's
// (F16 accumulation, another summation order). Greedy decoding on the device must therefore follow
// the CPU token for token, except that where the CPU's best two tokens are within `kTie` of each
// other the device may take the second; the texts can differ from there on, so the check stops.
// Returns how many tokens agree before that step (all of them when none differs).
constexpr double kTie = 0.02;  // nats: a rounding-sized gap, far below a real preference
size_t expect_same_greedy(const GreedyRun& cpu, const GreedyRun& gpu, const std::string& label) {
  EXPECT_EQ(gpu.tokens.size(), cpu.tokens.size()) << label;
  const size_t n = std::min(cpu.tokens.size(), gpu.tokens.size());
  for (size_t i = 0; i < n; ++i) {
    if (gpu.tokens[i] == cpu.tokens[i]) continue;
    EXPECT_LT(cpu.margin[i], kTie) << label << ": step " << i << " differs where the CPU preferred token "
                                   << cpu.tokens[i] << " by " << cpu.margin[i] << " nats";
    EXPECT_EQ(gpu.tokens[i], cpu.runner_up[i]) << label << ": step " << i << " took neither of the CPU's best two";
    std::printf("%s: %zu of %zu greedy tokens the same; at step %zu the CPU's best two were %.4f nats apart "
                "and the device took the second\n",
                label.c_str(), i, n, i, cpu.margin[i]);
    return i;
  }
  EXPECT_EQ(gpu.text, cpu.text) << label;
  return n;
}

// Offloadable layers of a generated generator: its repeating layers and the output layer.
int offloadable(int layers) { return layers + 1; }

TEST(GpuDevices, TheDeviceIsListedWithItsMemory) {
  auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
  const auto devices = provider->devices();
  auto vk = std::find_if(devices.begin(), devices.end(), [](const ComputeDevice& d) { return d.backend == backend(); });
  ASSERT_NE(vk, devices.end());
  EXPECT_EQ(vk->name.rfind(backend(), 0), 0u) << vk->name;
  EXPECT_NE(vk->type, "cpu");
  EXPECT_FALSE(vk->description.empty());
  EXPECT_GT(vk->memory_total, 64u << 20);
  EXPECT_LE(vk->memory_free, vk->memory_total);
  std::printf("device: %s (%s), %s, %llu of %llu MiB free\n", vk->name.c_str(), vk->description.c_str(),
              vk->type.c_str(), static_cast<unsigned long long>(vk->memory_free >> 20),
              static_cast<unsigned long long>(vk->memory_total >> 20));
  EXPECT_TRUE(llamacpp::has_gpu_device());
}

TEST(GpuGreedy, SameTextOnTheDeviceAsOnTheCpu) {
  for (const char* size : {"tiny", "small"}) {
    const auto file = test_model("generator", size);
    const GreedyRun cpu = greedy_run(file, {{"gpu_layers", 0}});
    const GreedyRun gpu = greedy_run(file, {{"gpu_layers", -1}});
    EXPECT_EQ(cpu.placement, "cpu");
    const int layers = std::string(size) == "tiny" ? 2 : 8;
    const std::string all = std::to_string(offloadable(layers));
    EXPECT_EQ(gpu.placement, all + "/" + all + " layers on " + gpu_device().name) << size;
    EXPECT_EQ(cpu.device_bytes, 0u);
    EXPECT_GT(gpu.device_bytes, 0u);
    ASSERT_FALSE(cpu.text.empty()) << size;
    const size_t same = expect_same_greedy(cpu, gpu, size);
    // The tiny model has no near-tie on this prompt: all of its text must match.
    if (std::string(size) == "tiny") EXPECT_EQ(same, cpu.tokens.size());
    EXPECT_GE(same, 8u) << size << ": the device diverged from the CPU early";
    std::printf("%s: %zu greedy tokens, %zu the same on the CPU and on %s\n", size, cpu.tokens.size(), same,
                gpu_device().name.c_str());
  }
}

TEST(GpuLayers, GpuLayersOffloadsThatMany) {
  const auto file = test_model("generator", "small");  // 8 repeating layers + the output layer
  const std::string device = gpu_device().name;
  const GreedyRun cpu = greedy_run(file, {{"gpu_layers", 0}}, 8);
  uint64_t previous = 0;
  for (int n : {1, 3, 6, 9}) {
    const GreedyRun run = greedy_run(file, {{"gpu_layers", n}}, 8);
    EXPECT_EQ(run.placement, std::to_string(n) + "/9 layers on " + device);
    EXPECT_GT(run.device_bytes, previous) << n << " layers";  // more layers, more device memory
    previous = run.device_bytes;
    expect_same_greedy(cpu, run, std::to_string(n) + " layers");
    std::printf("gpu_layers %d: placement \"%s\", %llu KiB on the device\n", n, run.placement.c_str(),
                static_cast<unsigned long long>(run.device_bytes >> 10));
  }
  // More than the model has: all of them, as llama.cpp counts.
  EXPECT_EQ(greedy_run(file, {{"gpu_layers", 50}}, 2).placement, "9/9 layers on " + device);
}

TEST(GpuAuto, DecidesFromTheDevicesFreeMemory) {
  const auto file = test_model("generator", "small");
  const std::string device = gpu_device().name;
  const int free_mib = static_cast<int>(gpu_device().memory_free >> 20);
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

// The per-device budget with llama.cpp's own accounting: the provider reports the bytes a model
// holds on Vulkan0, the runtime charges them to that device's budget, evicts an idle model on the
// device to make room, and refuses a model larger than the device's whole budget, naming the device.
TEST(GpuBudget, TheDevicesBudgetCountsWhatTheModelsHoldOnIt) {
  const auto tiny = test_model("generator", "tiny");
  const auto small = test_model("generator", "small");
  const std::string device = gpu_device().name;
  const uint64_t tiny_bytes = greedy_run(tiny, {{"gpu_layers", -1}}, 1).device_bytes;
  const uint64_t small_bytes = greedy_run(small, {{"gpu_layers", -1}}, 1).device_bytes;
  ASSERT_GT(tiny_bytes, 0u);
  ASSERT_GT(small_bytes, tiny_bytes);

  const auto runtime = [&](uint64_t budget) {
    RuntimeBuilder b;
    b.add_provider(make_llamacpp_provider(nlohmann::json::object(), nullptr));
    for (const auto& [alias, file] : {std::pair{"tiny", tiny}, std::pair{"small", small}}) {
      ModelSpec spec;
      spec.alias = alias;
      spec.task = ModelTask::generate;
      spec.provider = "llamacpp";
      spec.model = file.string();
      spec.options = {{"gpu_layers", -1}};
      b.add_spec(spec);
    }
    RuntimeLimits limits;
    limits.device_memory_budget = {{device, budget}};
    b.set_limits(limits);
    auto rt = b.build();
    EXPECT_TRUE(rt.ok()) << (rt.ok() ? "" : rt.error().to_string());
    return rt.ok() ? *rt : nullptr;
  };
  const auto used_on_device = [&](ModelRuntime& rt) {
    for (const auto& d : rt.memory().devices)
      if (d.name == device) return d.used;
    return uint64_t{0};
  };
  const auto is_loaded = [](ModelRuntime& rt, const std::string& alias) {
    for (const auto& r : rt.models())
      if (std::find(r.aliases.begin(), r.aliases.end(), alias) != r.aliases.end())
        return r.state == ModelState::loaded;
    return false;
  };

  // Room for either model, not for both: the second load evicts the first (idle) one.
  {
    auto rt = runtime(small_bytes + tiny_bytes / 2);
    ASSERT_TRUE(rt);
    ASSERT_TRUE(rt->generator("tiny").ok());
    EXPECT_EQ(used_on_device(*rt), tiny_bytes);
    auto big = rt->generator("small");
    ASSERT_TRUE(big.ok()) << big.error().to_string();
    EXPECT_FALSE(is_loaded(*rt, "tiny"));
    EXPECT_TRUE(is_loaded(*rt, "small"));
    EXPECT_EQ(used_on_device(*rt), small_bytes);
    std::printf("budget %llu KiB on %s: tiny (%llu KiB) evicted for small (%llu KiB)\n",
                static_cast<unsigned long long>((small_bytes + tiny_bytes / 2) >> 10), device.c_str(),
                static_cast<unsigned long long>(tiny_bytes >> 10), static_cast<unsigned long long>(small_bytes >> 10));
  }
  // Less than the model needs on the device: refused before loading, naming the device.
  {
    auto rt = runtime(small_bytes / 2);
    ASSERT_TRUE(rt);
    auto refused = rt->generator("small");
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::insufficient_memory) << refused.error().to_string();
    EXPECT_NE(refused.error().message().find(device), std::string::npos) << refused.error().message();
    EXPECT_EQ(used_on_device(*rt), 0u);
    std::printf("budget %llu KiB on %s: %s\n", static_cast<unsigned long long>((small_bytes / 2) >> 10),
                device.c_str(), refused.error().message().c_str());
  }
}

TEST(GpuFallback, ALoadTheDeviceCannotHoldFallsBackToTheCpu) {
  const char* limit = std::getenv("GGML_VK_FORCE_MAX_BUFFER_SIZE");
  if (!limit) GTEST_SKIP() << "run by ctest (llamacpp_vulkan_fallback) with GGML_VK_FORCE_MAX_BUFFER_SIZE";
  const auto file = test_model("generator", "tiny");
  const GreedyRun cpu = greedy_run(file, {{"gpu_layers", 0}});
  const GreedyRun run = greedy_run(file, {{"gpu_layers", -1}});
  // llama.cpp's reason: a weights buffer larger than the largest the device allows.
  EXPECT_EQ(run.placement.rfind("cpu (fallback: ", 0), 0u) << run.placement;
  EXPECT_NE(run.placement.find("Vulkan0"), std::string::npos) << run.placement;
  EXPECT_EQ(run.device_bytes, 0u);
  EXPECT_EQ(run.tokens, cpu.tokens);  // both ran on the CPU
  std::printf("fallback with GGML_VK_FORCE_MAX_BUFFER_SIZE=%s: \"%s\"\n", limit, run.placement.c_str());
}

// The backend is there but found no device: every way of asking for the GPU loads on the CPU,
// the record says why, and the text is the CPU's.
TEST(GpuAbsent, ModelsLoadOnTheCpuAndSayWhy) {
  EXPECT_NE(ggml_backend_reg_by_name(backend().c_str()), nullptr);
  EXPECT_FALSE(llamacpp::has_gpu_device());
  const auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
  for (const auto& d : provider->devices()) EXPECT_EQ(d.type, "cpu") << d.name;
  // xervo status shows it: "llamacpp ... ok: CPU (...), 2 threads; CUDA: no device".
  EXPECT_NE(provider->health().detail.find(backend() + ": no device"), std::string::npos) << provider->health().detail;
  const auto file = test_model("generator", "tiny");
  const GreedyRun cpu = greedy_run(file, {{"gpu_layers", 0}}, 8);
  const GreedyRun all = greedy_run(file, {{"gpu_layers", -1}}, 8);
  const GreedyRun fit = greedy_run(file, {{"gpu_layers", "auto"}}, 8);
  EXPECT_EQ(cpu.placement, "cpu");
  EXPECT_EQ(all.placement, "cpu (no GPU device; gpu_layers -1 has no effect)");
  EXPECT_EQ(fit.placement, "cpu; gpu_layers auto: no GPU device, on the CPU");
  for (const GreedyRun* run : {&all, &fit}) {
    EXPECT_EQ(run->device_bytes, 0u);
    EXPECT_EQ(run->tokens, cpu.tokens);
  }
  std::printf("%s backend without a device: \"%s\"; \"%s\"\n", backend().c_str(), all.placement.c_str(),
              fit.placement.c_str());
}

}  // namespace
}  // namespace xervo::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  xervo::llamacpp::ensure_backend();
  const std::string backend = xervo::testing::backend();
  if (!ggml_backend_reg_by_name(backend.c_str())) {
    std::fprintf(stderr,
                 "the libggml loaded has no %s backend: run through run_gpu_test.sh with the GPU build of "
                 "llama.cpp (XERVO_GPU=vulkan|cuda scripts/bootstrap), or configure with -DXERVO_GPU\n",
                 backend.c_str());
    return 1;
  }
  // The suites for a device, or GpuAbsent alone when the backend found none.
  std::string filter = GTEST_FLAG_GET(filter);
  if (xervo::testing::gpu_device().name.empty()) {
    if (filter.rfind("GpuFallback", 0) == 0) {
      std::printf("SKIP: ggml's %s backend found no device, so nothing can fall back from one\n", backend.c_str());
      return 77;
    }
    std::printf("ggml's %s backend found no device (Vulkan on lavapipe: Debian's mesa-vulkan-drivers, and "
                "GGML_VK_VISIBLE_DEVICES naming it; CUDA: an NVIDIA GPU and driver): running GpuAbsent\n",
                backend.c_str());
    GTEST_FLAG_SET(filter, "GpuAbsent.*");
  } else {
    GTEST_FLAG_SET(filter, filter + (filter.find('-') == std::string::npos ? "-" : ":") + "GpuAbsent.*");
  }
  return RUN_ALL_TESTS();
}
