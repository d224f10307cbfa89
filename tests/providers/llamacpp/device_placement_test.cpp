// Devices and layer placement: the devices ggml lists (the CPU always, with its memory), gpu_layers
// = "auto" accepted and placed through llama.cpp's fitting (on a CPU-only build: on the CPU, saying
// why), the placement in the model's record, and bad gpu_layers values refused.
#include <ggml-backend.h>

#include "helpers.h"
#include "providers/llamacpp/device_placement.h"
#include "providers/llamacpp/llama_backend.h"
#include "providers/llamacpp/options.h"
#include "xervo/runtime.h"

namespace xervo::testing {
namespace {

TEST(Devices, TheCpuIsListedWithItsMemory) {
  auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
  auto devices = provider->devices();
  ASSERT_FALSE(devices.empty());
  auto cpu =
      std::find_if(devices.begin(), devices.end(), [](const ComputeDevice& d) { return d.type == "cpu"; });
  ASSERT_NE(cpu, devices.end());
  EXPECT_EQ(cpu->backend, "CPU");
  EXPECT_FALSE(cpu->name.empty());
  EXPECT_GT(cpu->memory_total, 64u << 20);
  EXPECT_LE(cpu->memory_free, cpu->memory_total);
  EXPECT_EQ(devices.size(), ggml_backend_dev_count());
}

TEST(Devices, GpuLayersTakesAutoOrANumber) {
  auto a = llamacpp::parse_options({{"gpu_layers", "auto"}}, nlohmann::json::object());
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_TRUE(a->gpu_layers_auto);
  auto n = llamacpp::parse_options({{"gpu_layers", "auto"}}, {{"gpu_layers", 4}});  // the alias's own wins
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->gpu_layers_auto);
  EXPECT_EQ(n->gpu_layers, 4);
  for (const auto& bad : {nlohmann::json("all"), nlohmann::json(-2), nlohmann::json(true)}) {
    auto r = llamacpp::parse_options(nlohmann::json::object(), {{"gpu_layers", bad}});
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_EQ(r.error().code(), ErrorCode::config_invalid);
  }
}

TEST(Devices, GpuMarginTakesMebibytes) {
  auto o = llamacpp::parse_options(nlohmann::json::object(), nlohmann::json::object());
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->gpu_margin_mb, 512);
  auto m = llamacpp::parse_options({{"gpu_margin_mb", 2048}}, {{"gpu_layers", "auto"}});
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->gpu_margin_mb, 2048);
  for (const auto& bad : {nlohmann::json(-1), nlohmann::json("512"), nlohmann::json(1 << 25)}) {
    auto r = llamacpp::parse_options(nlohmann::json::object(), {{"gpu_margin_mb", bad}});
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_EQ(r.error().code(), ErrorCode::config_invalid);
  }
}

// llama.cpp's own count of offloaded layers, read from its load log for the record's placement.
TEST(Devices, TheOffloadCountIsReadFromLlamaCppsLine) {
  EXPECT_EQ(llamacpp::offload_count("load_tensors: offloaded 3/9 layers to GPU"), "3/9");
  EXPECT_EQ(llamacpp::offload_count("load_tensors: offloading 2 repeating layers to GPU"), "");
  EXPECT_EQ(llamacpp::offload_count("offloaded "), "");
  EXPECT_EQ(llamacpp::offload_count(""), "");
  llamacpp::LayerPlacement p;
  p.gpu_layers = 4;
  EXPECT_EQ(llamacpp::describe_offload(p), "4 layers on the GPU devices");
}

TEST(Devices, AutoPlacementLoadsAndIsRecorded) {
  RuntimeBuilder builder;
  builder.add_provider(make_llamacpp_provider(nlohmann::json::object(), nullptr));
  builder.add_spec(spec_for(ModelTask::generate, test_model("generator"), {{"gpu_layers", "auto"}}));
  auto runtime = builder.build();
  ASSERT_TRUE(runtime.ok()) << runtime.error().to_string();
  auto gen = (*runtime)->generator("test");
  ASSERT_TRUE(gen.ok()) << gen.error().to_string();
  GenerateRequest request;
  request.prompt = "Hello";
  request.options.max_tokens = 4;
  request.options.temperature = 0;
  ASSERT_TRUE((*gen)->generate(request).ok());
  auto records = (*runtime)->models();
  ASSERT_EQ(records.size(), 1u);
  if (llamacpp::has_gpu_device()) {
    EXPECT_NE(records[0].placement.find("gpu_layers auto"), std::string::npos) << records[0].placement;
  } else {
    EXPECT_EQ(records[0].placement, "cpu; gpu_layers auto: no GPU device, on the CPU");
  }
}

TEST(Devices, ExplicitLayersWithoutAGpuSayTheyHadNoEffect) {
  if (llamacpp::has_gpu_device()) GTEST_SKIP() << "this build has a GPU device";
  auto loaded = load_or_fail(ModelTask::embed, test_model("embedder"), {{"gpu_layers", 8}});
  EXPECT_EQ(loaded.placement, "cpu (no GPU device; gpu_layers 8 has no effect)");
}

}  // namespace
}  // namespace xervo::testing
