#include "gguf_writer.h"

#include <ggml.h>
#include <gguf.h>
#include <gtest/gtest.h>

#include <memory>

namespace xervo::testing {

void write_test_gguf(const std::filesystem::path& path, const GgufSpec& spec) {
  ggml_init_params params{};
  params.mem_size = static_cast<size_t>(spec.elements) * 4 * 3 + 64 * 1024;
  params.no_alloc = false;
  std::unique_ptr<ggml_context, decltype(&ggml_free)> ctx(ggml_init(params), ggml_free);
  std::unique_ptr<gguf_context, decltype(&gguf_free)> g(gguf_init_empty(), gguf_free);
  const std::string& a = spec.architecture;
  gguf_set_val_str(g.get(), "general.architecture", a.c_str());
  gguf_set_val_str(g.get(), "general.name", spec.name.c_str());
  gguf_set_val_u32(g.get(), "general.file_type", static_cast<uint32_t>(spec.file_type));
  gguf_set_val_u32(g.get(), "xervo.test_seed", spec.seed);
  if (!spec.description.empty()) gguf_set_val_str(g.get(), "general.description", spec.description.c_str());
  if (!spec.tags.empty()) {
    std::vector<const char*> tags;
    for (const auto& t : spec.tags) tags.push_back(t.c_str());
    gguf_set_arr_str(g.get(), "general.tags", tags.data(), tags.size());
  }
  if (!spec.conversion_tool.empty()) {
    gguf_set_val_str(g.get(), "xervo.conversion.tool", spec.conversion_tool.c_str());
    gguf_set_val_str(g.get(), "xervo.conversion.type", spec.conversion_type.c_str());
    std::vector<const char*> lines;
    for (const auto& l : spec.conversion_sources) lines.push_back(l.c_str());
    gguf_set_arr_str(g.get(), "xervo.conversion.sources", lines.data(), lines.size());
  }
  gguf_set_val_u32(g.get(), (a + ".context_length").c_str(), 512);
  gguf_set_val_u32(g.get(), (a + ".embedding_length").c_str(), 64);
  gguf_set_val_u32(g.get(), (a + ".block_count").c_str(), 2);
  gguf_set_val_u32(g.get(), (a + ".attention.head_count").c_str(), 4);
  if (spec.pooling_type >= 0) gguf_set_val_u32(g.get(), (a + ".pooling_type").c_str(), spec.pooling_type);
  if (spec.causal >= 0) gguf_set_val_bool(g.get(), (a + ".attention.causal").c_str(), spec.causal != 0);

  auto add = [&](const char* name, int64_t n) {
    ggml_tensor* t = ggml_new_tensor_1d(ctx.get(), GGML_TYPE_F32, n);
    ggml_set_name(t, name);
    auto* data = static_cast<float*>(t->data);
    for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>((i * 31 + spec.seed * 7) % 97) / 97.0f;
    gguf_add_tensor(g.get(), t);
  };
  add("token_embd.weight", spec.elements);
  if (spec.cls_head) add("cls.output.weight", 64);
  ASSERT_TRUE(gguf_write_to_file(g.get(), path.c_str(), false)) << path;
}

}  // namespace xervo::testing
