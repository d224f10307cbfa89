// `xervo serve --demo`: three small generated models (embedder, reranker, chat generator) under
// XERVO_HOME/models/demo/, created on first use with the test-model generator, and the aliases
// embed/default, rerank/default and chat/default pointing at them. Safe to run from several
// processes at once: each file appears atomically.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "xervo/config.h"
#include "xervo/error.h"

namespace xervo {
class ModelLibrary;
}

namespace xervo::server {

struct DemoModels {
  std::filesystem::path embed, rerank, chat;
};

// Generates whichever demo model is missing under home/models/demo/ (seconds); unavailable when this
// build has no generator. With a model library (not null; the build has one), the models live in it
// instead, as demo/embed-tiny, demo/rerank-tiny and demo/chat-tiny (its canonical layout puts them
// under home/models/demo/ too), generated in a temporary folder and moved in on first use.
Result<DemoModels> ensure_demo_models(const std::filesystem::path& home,
                                      const std::shared_ptr<ModelLibrary>& library = nullptr);

// Adds the three demo aliases to `config`, leaving any alias the config already defines alone.
void add_demo_aliases(Config& config, const DemoModels& models);

// curl command lines that exercise each demo alias against `base_url` ("http://127.0.0.1:8080").
std::string demo_curl_lines(const std::string& base_url, const std::string& bearer_hint);

}  // namespace xervo::server
