// Conversion errors are not fatal: the demo then keeps its generated embedder and says so.
#include "cli/demo_real.h"

#if XERVO_HAVE_SERVER

#include <cstdlib>
#include <string>

#include "core/log.h"
#if XERVO_HAVE_HFCONVERT
#include "hf_convert.h"
#endif

#ifndef XERVO_DEFAULT_DEPS_DIR
#define XERVO_DEFAULT_DEPS_DIR ""
#endif

namespace xervo::cli {

void use_real_demo_models(server::DemoModels& models, const std::filesystem::path& home) {
  if (const char* off = std::getenv("XERVO_REAL_MODELS"); off && std::string(off) == "0") return;
  const char* env = std::getenv("XERVO_DEPS_DIR");
  const std::filesystem::path dir =
      std::filesystem::path(env && *env ? env : XERVO_DEFAULT_DEPS_DIR) / "models";
  std::error_code ec;
  if (!std::filesystem::exists(dir / ".ready-v1", ec)) {
    spdlog::info(
        "real models unavailable (none installed in {}; scripts/bootstrap installs them when the "
        "package index is reachable): the demo uses generated models",
        dir.string());
    return;
  }
  if (const auto gemma = dir / "gemma-3-270m-q4_k_m.gguf"; std::filesystem::is_regular_file(gemma, ec)) {
    models.chat = gemma;
    spdlog::info("demo chat/default: Gemma 3 270M (pretrained, completion style) {}", gemma.string());
  }
#if XERVO_HAVE_HFCONVERT
  const auto gguf = home / "models" / "demo" / "all-minilm-l6-v2.gguf";
  if (!std::filesystem::is_regular_file(gguf, ec)) {
    std::filesystem::create_directories(gguf.parent_path(), ec);
    auto r = hfconvert::convert_checkpoint({dir / "all-MiniLM-L6-v2", gguf, hfconvert::OutputType::f16});
    if (!r) {
      spdlog::warn("cannot convert all-MiniLM-L6-v2 ({}): the demo embedder stays generated",
                   r.error().to_string());
      return;
    }
  }
  models.embed = gguf;
  spdlog::info("demo embed/default: all-MiniLM-L6-v2 {}", gguf.string());
#endif
}

}  // namespace xervo::cli

#endif
