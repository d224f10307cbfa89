// The demo's real models: where scripts/bootstrap installed packaged trained models
// (docs/real-models.md), `--demo` serves them instead of the generated ones: embed/default is
// all-MiniLM-L6-v2 (converted to GGUF under XERVO_HOME/models/demo/ on first use) and chat/default
// Gemma 3 270M. rerank/default stays generated (no packaged reranker exists).
#pragma once

#if XERVO_HAVE_SERVER

#include <filesystem>

#include "server/demo.h"

namespace xervo::cli {

// Replaces the paths in `models` with the real models found in the deps cache ($XERVO_DEPS_DIR,
// else the cache this build was configured with), and says which ones it uses, or that it falls
// back to the generated models and why. XERVO_REAL_MODELS=0 turns this off.
void use_real_demo_models(server::DemoModels& models, const std::filesystem::path& home);

}  // namespace xervo::cli

#endif
