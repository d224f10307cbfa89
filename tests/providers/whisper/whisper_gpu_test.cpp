// The whisper provider on a GPU backend of ggml (Vulkan: Mesa's lavapipe here; CUDA): whisper.cpp
// shares llama.cpp's ggml, so the test binary of the CPU build runs against a GPU build of llama.cpp
// (tests/providers/llamacpp/run_gpu_test.sh, which sets XERVO_TEST_GPU_BACKEND). Checked, with the
// packaged tiny.en model on speech espeak-ng makes: use_gpu puts the model on the device
// (placement, device memory) and gives the CPU's transcript; a device without room for the model
// beside gpu_margin_mb is not tried; and a load the device refuses (WhisperGpuFallback, Vulkan
// only: own process with GGML_VK_FORCE_MAX_BUFFER_SIZE) falls back to the CPU with the reason, where
// whisper.cpp 1.9.1 used to abort the process (scripts/patches/whisper.cpp-weights-allocation.patch).
// Without a device (the backend loaded, none found): WhisperGpuAbsent alone, use_gpu runs on the CPU
// and says so.
//
// Exit code 77 (ctest: skipped) without the model or espeak-ng.
#include <ggml-backend.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "providers/llamacpp/llama_backend.h"
#include "providers/whisper/whisper_device.h"
#include "xervo/providers.h"

namespace xervo {
namespace {

namespace fs = std::filesystem;

std::string speech() {
  static const std::string audio = [] {
    const auto wav = fs::temp_directory_path() / ("xervo-whisper-vk-" + std::to_string(::getpid()) + ".wav");
    const std::string cmd = std::string(XERVO_ESPEAK_NG) + " -s 150 -w " + wav.string() +
                            " \"Please open the window and close the door.\"";
    if (std::system(cmd.c_str()) != 0) return std::string();
    std::ifstream in(wav, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    fs::remove(wav);
    return s.str();
  }();
  return audio;
}

std::string backend() {
  const char* b = std::getenv("XERVO_TEST_GPU_BACKEND");
  return b && *b ? b : "Vulkan";
}

struct Transcribed {
  std::string placement;
  std::map<std::string, uint64_t> devices;
  std::string text;
};

Transcribed transcribe(nlohmann::json options) {
  Transcribed run;
  ModelSpec spec;
  spec.alias = "stt";
  spec.task = ModelTask::transcribe;
  spec.provider = "whisper";
  spec.model = XERVO_WHISPER_MODEL;
  spec.options = std::move(options);
  auto loaded = make_whisper_provider(nlohmann::json::object(), nullptr)->load(spec, {});
  if (!loaded) {
    ADD_FAILURE() << loaded.error().to_string();
    return run;
  }
  run.placement = loaded->placement;
  run.devices = loaded->memory.devices;
  TranscribeRequest request;
  request.audio = speech();
  auto result = loaded->transcriber->transcribe(request, {});
  if (!result) {
    ADD_FAILURE() << result.error().to_string();
    return run;
  }
  run.text = result->text;
  return run;
}

TEST(WhisperGpu, UseGpuRunsOnTheDeviceWithTheCpusTranscript) {
  const std::string device = whisper::gpu_device_name();
  const Transcribed cpu = transcribe({{"use_gpu", false}});
  const Transcribed gpu = transcribe({{"use_gpu", true}});
  EXPECT_EQ(cpu.placement, "cpu");
  EXPECT_TRUE(cpu.devices.empty());
  EXPECT_EQ(gpu.placement, device);
  EXPECT_GT(gpu.devices.count(device) ? gpu.devices.at(device) : 0, uint64_t{50} << 20);  // tiny.en's 77 MB of weights, and more
  EXPECT_NE(cpu.text.find("window"), std::string::npos) << cpu.text;
  EXPECT_EQ(gpu.text, cpu.text);
  std::printf("CPU: \"%s\"; %s: \"%s\"\n", cpu.text.c_str(), device.c_str(), gpu.text.c_str());
}

TEST(WhisperGpu, ADeviceWithoutRoomBesideTheMarginIsNotTried) {
  const Transcribed run = transcribe({{"use_gpu", true}, {"gpu_margin_mb", 1 << 20}});
  EXPECT_EQ(run.placement.rfind("cpu (" + whisper::gpu_device_name() + " has ", 0), 0u) << run.placement;
  EXPECT_NE(run.placement.find("gpu_margin_mb"), std::string::npos) << run.placement;
  EXPECT_TRUE(run.devices.empty());
  EXPECT_NE(run.text.find("window"), std::string::npos) << run.text;
  std::printf("%s\n", run.placement.c_str());
}

TEST(WhisperGpuFallback, ALoadTheDeviceRefusesFallsBackToTheCpu) {
  const char* limit = std::getenv("GGML_VK_FORCE_MAX_BUFFER_SIZE");
  if (!limit) GTEST_SKIP() << "run by ctest (whisper_vulkan_fallback) with GGML_VK_FORCE_MAX_BUFFER_SIZE";
  const Transcribed run = transcribe({{"use_gpu", true}});
  EXPECT_EQ(run.placement.rfind("cpu (fallback: ", 0), 0u) << run.placement;
  EXPECT_NE(run.placement.find("Vulkan0"), std::string::npos) << run.placement;
  EXPECT_TRUE(run.devices.empty());
  EXPECT_NE(run.text.find("window"), std::string::npos) << run.text;
  std::printf("fallback with GGML_VK_FORCE_MAX_BUFFER_SIZE=%s: \"%s\"\n", limit, run.placement.c_str());
}

TEST(WhisperGpuAbsent, UseGpuRunsOnTheCpuAndSaysSo) {
  EXPECT_EQ(whisper::gpu_device_name(), "");
  const Transcribed run = transcribe({{"use_gpu", true}});
  EXPECT_EQ(run.placement, "cpu (no GPU device; use_gpu has no effect)");
  EXPECT_TRUE(run.devices.empty());
  EXPECT_NE(run.text.find("window"), std::string::npos) << run.text;
}

}  // namespace
}  // namespace xervo

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!std::filesystem::exists(XERVO_WHISPER_MODEL) || std::string(XERVO_ESPEAK_NG).empty()) {
    std::printf("SKIP: the packaged Whisper model or espeak-ng is missing (scripts/bootstrap installs both)\n");
    return 77;
  }
  xervo::llamacpp::ensure_backend();
  const std::string backend = xervo::backend();
  if (!ggml_backend_reg_by_name(backend.c_str())) {
    std::fprintf(stderr, "the libggml loaded has no %s backend: run through run_gpu_test.sh\n", backend.c_str());
    return 1;
  }
  std::string filter = GTEST_FLAG_GET(filter);
  if (xervo::whisper::gpu_device_name().empty()) {
    if (filter.rfind("WhisperGpuFallback", 0) == 0) {
      std::printf("SKIP: ggml's %s backend found no device\n", backend.c_str());
      return 77;
    }
    GTEST_FLAG_SET(filter, "WhisperGpuAbsent.*");
  } else {
    GTEST_FLAG_SET(filter, filter + (filter.find('-') == std::string::npos ? "-" : ":") + "WhisperGpuAbsent.*");
  }
  return RUN_ALL_TESTS();
}
