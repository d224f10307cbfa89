// Shared setup of the llama.cpp provider tests: the provider, and loads of generated tiny models.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "test_models.h"
#include "xervo/providers.h"

namespace xervo::testing {

inline ModelSpec spec_for(ModelTask task, const std::filesystem::path& file,
                          nlohmann::json options = nlohmann::json::object()) {
  ModelSpec spec;
  spec.alias = "test";
  spec.task = task;
  spec.provider = "llamacpp";
  spec.model = file.string();
  if (!options.contains("threads"))
    options["threads"] = 1;  // tiny models: thread hand-offs cost more than they save on a busy machine
  spec.options = std::move(options);
  return spec;
}

// Loads a model or fails the test with the provider's error.
inline LoadedModel load_or_fail(ModelTask task, const std::filesystem::path& file,
                                nlohmann::json options = nlohmann::json::object()) {
  auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
  auto loaded = provider->load(spec_for(task, file, std::move(options)), nullptr);
  if (!loaded) {
    ADD_FAILURE() << loaded.error().to_string();
    return {};
  }
  return std::move(*loaded);
}

inline double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0;
}

}  // namespace xervo::testing
