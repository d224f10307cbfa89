// The per-device part of the memory budget ([runtime] device_memory_budget): models declare bytes
// on GPU devices through the fake provider's `device_bytes` option, beside their host `bytes`. A
// device's budget is kept apart from the host's and from the other devices': eviction frees only
// models that hold memory where the new model is short, and a model that can never fit a device is
// insufficient_memory naming it.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/memory_budget.h"
#include "fake_provider.h"
#include "xervo/config.h"
#include "xervo/runtime.h"

namespace xervo {
namespace {

using testing::fake_spec;
using testing::FakeProvider;

ModelSpec on_device(std::string alias, uint64_t host, std::map<std::string, uint64_t> devices) {
  auto s = fake_spec(alias, ModelTask::embed, alias);
  s.options["bytes"] = host;
  s.options["device_bytes"] = devices;
  return s;
}

std::shared_ptr<ModelRuntime> runtime_of(std::vector<ModelSpec> specs, RuntimeLimits limits) {
  RuntimeBuilder b;
  b.add_provider(std::make_shared<FakeProvider>());
  for (auto& s : specs) b.add_spec(s);
  b.set_limits(limits);
  auto r = b.build();
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
  return r.ok() ? *r : nullptr;
}

bool loaded(ModelRuntime& rt, const std::string& alias) {
  for (const auto& r : rt.models())
    if (std::find(r.aliases.begin(), r.aliases.end(), alias) != r.aliases.end())
      return r.state == ModelState::loaded;
  return false;
}

void use(ModelRuntime& rt, const std::string& alias) {
  auto h = rt.embedding(alias);
  ASSERT_TRUE(h.ok()) << h.error().to_string();
}

RuntimeLimits limits(uint64_t host, std::map<std::string, uint64_t> devices) {
  RuntimeLimits l;
  l.memory_budget = host;
  l.device_memory_budget = std::move(devices);
  return l;
}

TEST(DeviceBudget, AFullDeviceEvictsOnlyModelsOnThatDevice) {
  auto rt = runtime_of({on_device("cpu-only", 100, {}), on_device("gpu-a", 10, {{"Vulkan0", 600}}),
                        on_device("gpu-b", 10, {{"Vulkan0", 600}}), on_device("other-gpu", 10, {{"Vulkan1", 600}})},
                       limits(1000, {{"Vulkan0", 1000}, {"*", 800}}));
  use(*rt, "cpu-only");
  use(*rt, "other-gpu");
  use(*rt, "gpu-a");
  use(*rt, "gpu-b");  // Vulkan0 holds 600 of 1000: gpu-a must go, although cpu-only is older
  EXPECT_FALSE(loaded(*rt, "gpu-a"));
  EXPECT_TRUE(loaded(*rt, "gpu-b"));
  EXPECT_TRUE(loaded(*rt, "cpu-only"));
  EXPECT_TRUE(loaded(*rt, "other-gpu"));

  const auto m = rt->memory();
  EXPECT_EQ(m.used, 120u);  // the host part only: 100 + 10 + 10
  ASSERT_EQ(m.devices.size(), 2u);
  EXPECT_EQ(m.devices[0].name, "Vulkan0");
  EXPECT_EQ(m.devices[0].budget, 1000u);
  EXPECT_EQ(m.devices[0].used, 600u);
  EXPECT_EQ(m.devices[1].name, "Vulkan1");
  EXPECT_EQ(m.devices[1].budget, 800u);  // from "*"
  EXPECT_EQ(m.devices[1].used, 600u);
}

TEST(DeviceBudget, AModelLargerThanADevicesBudgetIsInsufficientMemoryNamingTheDevice) {
  auto rt = runtime_of({on_device("small", 10, {{"Vulkan0", 100}}), on_device("huge", 10, {{"Vulkan0", 5000}})},
                       limits(0, {{"Vulkan0", 1000}}));
  use(*rt, "small");
  auto r = rt->embedding("huge");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::insufficient_memory);
  EXPECT_NE(r.error().message().find("on Vulkan0, more than its whole device_memory_budget"), std::string::npos)
      << r.error().message();
  EXPECT_TRUE(loaded(*rt, "small"));  // nothing was evicted for a load that could never fit
}

TEST(DeviceBudget, APinnedModelOnTheDeviceLeavesTooLittleRoomAndSaysSo) {
  auto pinned = on_device("pinned", 10, {{"CUDA0", 700}});
  pinned.pin = true;
  auto rt = runtime_of({pinned, on_device("next", 10, {{"CUDA0", 500}})}, limits(0, {{"*", 1000}}));
  use(*rt, "pinned");
  auto r = rt->embedding("next");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::insufficient_memory);
  EXPECT_NE(r.error().message().find("on CUDA0; 700 B of its device_memory_budget of 1000 B is held"),
            std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("pinned"), std::string::npos) << r.error().message();
}

TEST(DeviceBudget, WithoutADeviceBudgetDeviceBytesDoNotCountAgainstTheHostBudget) {
  auto rt = runtime_of({on_device("a", 100, {{"Vulkan0", 10000}}), on_device("b", 100, {{"Vulkan0", 10000}})},
                       limits(250, {}));
  use(*rt, "a");
  use(*rt, "b");
  EXPECT_TRUE(loaded(*rt, "a"));
  EXPECT_TRUE(loaded(*rt, "b"));
  EXPECT_EQ(rt->memory().used, 200u);
  ASSERT_EQ(rt->memory().devices.size(), 1u);
  EXPECT_EQ(rt->memory().devices[0].used, 20000u);
  EXPECT_EQ(rt->memory().devices[0].budget, 0u);
}

TEST(DeviceBudget, ChargesAreAtomicPerDevice) {
  auto budget = MemoryBudget::create({0, 0, {{"Vulkan0", 100}}});
  auto a = budget->try_take({5, {{"Vulkan0", 60}}});
  ASSERT_TRUE(a);
  EXPECT_FALSE(budget->try_take({5, {{"Vulkan0", 60}}}));
  auto b = budget->try_take({5, {{"Vulkan0", 40}, {"Vulkan1", 1 << 30}}});  // Vulkan1 has no limit
  ASSERT_TRUE(b);
  EXPECT_TRUE(budget->relieves(a->claim(), {0, {{"Vulkan0", 1}}}));
  EXPECT_FALSE(budget->relieves(a->claim(), {0, {{"Vulkan1", 1}}}));
  a->resize({5, {{"Vulkan0", 10}}});
  EXPECT_EQ(budget->usage().device_used.at("Vulkan0"), 50u);
  a.reset();
  b.reset();
  EXPECT_TRUE(budget->usage().device_used.empty());
  EXPECT_EQ(budget->usage().used, 0u);
}

Config config_of(const std::string& toml) {
  auto c = parse_config(toml, "xervo.toml");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().to_string());
  return c.ok() ? *c : Config{};
}

TEST(DeviceBudget, ConfigTakesOneSizeForEveryDeviceOrATableByName) {
  auto one = parse_runtime_limits(config_of("[runtime]\ndevice_memory_budget = \"6GiB\"\n"));
  ASSERT_TRUE(one.ok()) << one.error().to_string();
  EXPECT_EQ(one->device_memory_budget, (std::map<std::string, uint64_t>{{"*", 6ull << 30}}));
  auto table = parse_runtime_limits(
      config_of("[runtime.device_memory_budget]\nVulkan0 = \"2GiB\"\n\"*\" = 1048576\n"));
  ASSERT_TRUE(table.ok()) << table.error().to_string();
  EXPECT_EQ(table->device_memory_budget,
            (std::map<std::string, uint64_t>{{"Vulkan0", 2ull << 30}, {"*", 1048576}}));
  EXPECT_TRUE(default_runtime_limits().device_memory_budget.empty());

  for (const char* bad : {"device_memory_budget = \"50%\"\n", "device_memory_budget = -1\n",
                          "device_memory_budget = \"lots\"\n", "device_memory_budget = [1]\n",
                          "[runtime.device_memory_budget]\n\"../x\" = \"1GiB\"\n",
                          "[runtime.device_memory_budget]\nVulkan0 = true\n"}) {
    auto r = parse_runtime_limits(config_of(std::string("[runtime]\n") + bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::config_invalid) << bad;
    EXPECT_NE(r.error().message().find("device_memory_budget"), std::string::npos) << r.error().message();
  }
}

}  // namespace
}  // namespace xervo
