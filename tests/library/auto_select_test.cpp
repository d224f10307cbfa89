// The choice of `model = "auto"` over given machine facts: the best tier that fits the budget and
// free memory (or a GPU device), CPU flags, a copy already in the library winning within its tier,
// and a reason for every candidate. Deterministic: the same facts give the same answer.
#include <gtest/gtest.h>

#include <fstream>

#include "gguf_writer.h"
#include "hub_server.h"
#include "library/auto_select.h"
#include "library_fixture.h"

namespace xervo::testing {
namespace {

using library::AutoCatalog;
using library::AutoCatalogEntry;
using library::MachineFacts;
using library::select_auto_model;

constexpr uint64_t MiB = 1024 * 1024;

AutoCatalogEntry entry(std::string model, int tier, uint64_t memory_mib) {
  AutoCatalogEntry e;
  e.model = std::move(model);
  e.quantization = "Q8_0";
  e.file_bytes = memory_mib * MiB / 2;
  e.memory_bytes = memory_mib * MiB;
  e.tier = tier;
  e.license = "mit";
  return e;
}

// Small (tier 1, 100 MiB), medium (tier 2, 400 MiB), large (tier 3, 1600 MiB).
AutoCatalog three_sizes() {
  AutoCatalog c;
  c.tasks[ModelTask::embed] = {entry("hf:T/small:Q8_0", 1, 100), entry("hf:T/large:Q8_0", 3, 1600),
                               entry("hf:T/medium:Q8_0", 2, 400)};
  return c;
}

MachineFacts facts(uint64_t budget_mib, uint64_t free_mib) {
  MachineFacts f;
  f.memory_budget = budget_mib * MiB;
  f.memory_available = free_mib * MiB;
  f.cpu_features = {"sse2", "avx2"};
  f.cpu_features_known = true;
  return f;
}

std::string chosen(const library::AutoSelection& s) {
  return s.choice() ? s.choice()->entry.model : "(none)";
}

TEST(AutoSelect, PicksTheBestThatFitsUnderEachBudget) {
  auto c = three_sizes();
  EXPECT_EQ(chosen(select_auto_model(c, ModelTask::embed, facts(8000, 8000))), "hf:T/large:Q8_0");
  EXPECT_EQ(chosen(select_auto_model(c, ModelTask::embed, facts(1000, 8000))), "hf:T/medium:Q8_0");
  EXPECT_EQ(chosen(select_auto_model(c, ModelTask::embed, facts(8000, 399))), "hf:T/small:Q8_0")
      << "free memory limits as the budget does";
  auto none = select_auto_model(c, ModelTask::embed, facts(50, 8000));
  EXPECT_EQ(none.choice(), nullptr);
  ASSERT_EQ(none.candidates.size(), 3u);
  for (const auto& cand : none.candidates) {
    EXPECT_FALSE(cand.fits);
    EXPECT_NE(cand.reason.find("over the memory budget"), std::string::npos) << cand.reason;
  }
  EXPECT_NE(none.explain().find("hf:T/small:Q8_0"), std::string::npos) << none.explain();
  EXPECT_TRUE(select_auto_model(c, ModelTask::rerank, facts(8000, 8000)).candidates.empty());
}

TEST(AutoSelect, EveryCandidateHasAReasonInPreferenceOrder) {
  auto s = select_auto_model(three_sizes(), ModelTask::embed, facts(1000, 8000));
  ASSERT_EQ(s.candidates.size(), 3u);
  EXPECT_EQ(s.candidates[0].entry.model, "hf:T/large:Q8_0");
  EXPECT_FALSE(s.candidates[0].fits);
  EXPECT_NE(s.candidates[0].reason.find("needs 1.6 GiB, over the memory budget of 1000.0 MiB"),
            std::string::npos)
      << s.candidates[0].reason;
  EXPECT_TRUE(s.candidates[1].chosen);
  EXPECT_EQ(s.candidates[1].device, "cpu");
  EXPECT_NE(s.candidates[1].reason.find("chosen"), std::string::npos) << s.candidates[1].reason;
  EXPECT_NE(s.candidates[1].reason.find("pulled on first use"), std::string::npos) << s.candidates[1].reason;
  EXPECT_TRUE(s.candidates[2].fits);
  EXPECT_FALSE(s.candidates[2].chosen);
  EXPECT_NE(s.candidates[2].reason.find("ranks higher"), std::string::npos) << s.candidates[2].reason;
  auto again = select_auto_model(three_sizes(), ModelTask::embed, facts(1000, 8000));
  EXPECT_EQ(library::to_json(again).dump(), library::to_json(s).dump()) << "deterministic";
  auto j = library::to_json(s);
  EXPECT_EQ(j["choice"], "hf:T/medium:Q8_0");
  EXPECT_EQ(j["candidates"].size(), 3u);
}

TEST(AutoSelect, AGpuDeviceWithRoomTakesWhatFreeMemoryCannot) {
  auto f = facts(8000, 200);
  f.devices.push_back({"CPU", "host", "CPU", "cpu", 100000 * MiB, 100000 * MiB});
  f.devices.push_back({"Vulkan0", "gpu", "Vulkan", "gpu", 2000 * MiB, 500 * MiB});
  auto s = select_auto_model(three_sizes(), ModelTask::embed, f);
  EXPECT_EQ(chosen(s), "hf:T/medium:Q8_0") << "the CPU device's memory is not a GPU's";
  EXPECT_EQ(s.choice()->device, "Vulkan0");
  EXPECT_NE(s.choice()->reason.find("GPU device Vulkan0"), std::string::npos) << s.choice()->reason;
  EXPECT_NE(s.candidates[0].reason.find("Vulkan0's 500.0 MiB free"), std::string::npos)
      << s.candidates[0].reason;
  f.devices.pop_back();
  EXPECT_EQ(chosen(select_auto_model(three_sizes(), ModelTask::embed, f)), "hf:T/small:Q8_0");
}

TEST(AutoSelect, RejectsEntriesNeedingCpuFlagsThisCpuLacks) {
  auto c = three_sizes();
  c.tasks[ModelTask::embed][1].cpu_features = {"avx512f"};
  auto s = select_auto_model(c, ModelTask::embed, facts(8000, 8000));
  EXPECT_EQ(chosen(s), "hf:T/medium:Q8_0");
  EXPECT_NE(s.candidates[0].reason.find("needs CPU feature avx512f, which this CPU lacks"), std::string::npos)
      << s.candidates[0].reason;
  c.tasks[ModelTask::embed][1].cpu_features = {"avx2"};
  EXPECT_EQ(chosen(select_auto_model(c, ModelTask::embed, facts(8000, 8000))), "hf:T/large:Q8_0");
  auto unknown = facts(8000, 8000);
  unknown.cpu_features_known = false;
  EXPECT_EQ(chosen(select_auto_model(c, ModelTask::embed, unknown)), "hf:T/medium:Q8_0");
}

TEST(AutoSelect, ACopyInTheLibraryWinsWithinItsTier) {
  TempDir home, src;
  write_test_gguf(src.path / "mine.gguf", {.architecture = "bert", .seed = 21});
  std::ifstream in(src.path / "mine.gguf", std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  auto lib = open_test_library(home.path);
  ASSERT_TRUE(lib);
  auto imported = lib->import_paths({src.path / "mine.gguf"}, {.mode = ImportMode::copy});
  ASSERT_TRUE(imported.at(0).model) << imported[0].error->to_string();

  AutoCatalog c;
  auto big = entry("hf:T/big:Q8_0", 2, 300);
  auto mine = entry("hf:T/mine:Q8_0", 2, 100);
  mine.file_bytes = bytes.size();
  mine.sha256 = FakeHub::sha256_hex(bytes);
  auto better = entry("hf:T/better:Q8_0", 3, 5000);
  c.tasks[ModelTask::embed] = {big, mine, better};
  auto s = select_auto_model(c, ModelTask::embed, facts(8000, 8000), library::library_presence(*lib));
  EXPECT_EQ(chosen(s), "hf:T/better:Q8_0") << "a higher tier still wins";
  ASSERT_EQ(s.candidates.size(), 3u);
  EXPECT_EQ(s.candidates[1].entry.model, "hf:T/mine:Q8_0") << "the library copy first within tier 2";
  EXPECT_EQ(s.candidates[1].library_id, imported[0].model->id);
  EXPECT_TRUE(s.candidates[2].library_id.empty());

  auto smaller = select_auto_model(c, ModelTask::embed, facts(1000, 8000), library::library_presence(*lib));
  EXPECT_EQ(chosen(smaller), "hf:T/mine:Q8_0") << "over the bigger one of its tier that must be pulled";
  EXPECT_NE(smaller.choice()->reason.find("in the library as " + imported[0].model->id), std::string::npos)
      << smaller.choice()->reason;
  EXPECT_NE(smaller.candidates[2].reason.find("in the library"), std::string::npos)
      << smaller.candidates[2].reason;

  c.tasks[ModelTask::embed][1].sha256 = std::string(64, '0');  // another file: not present
  EXPECT_EQ(
      chosen(select_auto_model(c, ModelTask::embed, facts(1000, 8000), library::library_presence(*lib))),
      "hf:T/big:Q8_0");
}

TEST(AutoSelect, AProbedMachineHasMemoryAndTheBudgetGiven) {
  auto f = library::probe_machine(123 * MiB, {});
  EXPECT_EQ(f.memory_budget, 123 * MiB);
  EXPECT_GT(f.memory_available, 0u);
  EXPECT_GT(library::probe_machine(0, {}).memory_budget, 123 * MiB) << "no budget: physical memory";
}

}  // namespace
}  // namespace xervo::testing
