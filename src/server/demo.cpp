#include "server/demo.h"

#include <algorithm>
#include <cstdlib>

#include "core/log.h"
#if XERVO_HAVE_TESTMODEL
#include "testmodel/testmodel.h"
#endif

namespace xervo::server {

std::filesystem::path xervo_home() {
  if (const char* env = std::getenv("XERVO_HOME"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : ".") / ".local" / "share" / "xervo";
}

Result<DemoModels> ensure_demo_models(const std::filesystem::path& home) {
  std::filesystem::path dir = home / "models" / "demo";
  DemoModels models{dir / "embed-tiny.gguf", dir / "rerank-tiny.gguf", dir / "chat-tiny.gguf"};
#if XERVO_HAVE_TESTMODEL
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return Error(ErrorCode::io_error, "cannot create " + dir.string() + ": " + ec.message() +
                                          "; set XERVO_HOME to a writable folder");
  struct Item {
    testmodel::ModelKind kind;
    const std::filesystem::path* path;
  };
  for (const auto& item : {Item{testmodel::ModelKind::embedder, &models.embed},
                           Item{testmodel::ModelKind::reranker, &models.rerank},
                           Item{testmodel::ModelKind::generator, &models.chat}}) {
    if (std::filesystem::is_regular_file(*item.path, ec)) continue;
    testmodel::TestModelOptions options;
    options.kind = item.kind;
    options.size = testmodel::ModelSize::tiny;
    options.output = *item.path;
    spdlog::info("generating demo model {}", item.path->string());
    auto r = testmodel::write_test_model(options);
    if (!r.ok())
      return Error(r.error().code(),
                   "cannot generate demo model " + item.path->string() + ": " + r.error().message());
  }
  return models;
#else
  (void)models;
  return Error(
      ErrorCode::unavailable,
      "this build has no test-model generator (it needs llama.cpp), so --demo cannot create its models");
#endif
}

void add_demo_aliases(Config& config, const DemoModels& models) {
  auto add = [&](const char* alias, ModelTask task, const std::filesystem::path& file) {
    if (std::any_of(config.models.begin(), config.models.end(),
                    [&](const ModelSpec& s) { return s.alias == alias; }))
      return;
    ModelSpec spec;
    spec.alias = alias;
    spec.task = task;
    spec.provider = "llamacpp";
    spec.model = file.string();
    spec.warmup = WarmupPolicy::background;
    config.models.push_back(std::move(spec));
  };
  add("embed/default", ModelTask::embed, models.embed);
  add("rerank/default", ModelTask::rerank, models.rerank);
  add("chat/default", ModelTask::generate, models.chat);
}

std::string demo_curl_lines(const std::string& base, const std::string& auth) {
  std::string h = auth.empty() ? "" : " -H 'Authorization: Bearer " + auth + "'";
  std::string json = " -H 'Content-Type: application/json'";
  return "  curl -s" + h + " " + base + "/v1/models\n" + "  curl -s" + h + json + " " + base +
         "/v1/embeddings -d '{\"model\": \"embed/default\", \"input\": [\"hello world\", \"good "
         "morning\"]}'\n" +
         "  curl -s" + h + json + " " + base +
         "/v1/rerank -d '{\"model\": \"rerank/default\", \"query\": \"greeting\", \"documents\": [\"hello\", "
         "\"tax "
         "law\"]}'\n" +
         "  curl -s" + h + json + " " + base +
         "/v1/chat/completions -d '{\"model\": \"chat/default\", \"messages\": [{\"role\": \"user\", "
         "\"content\": "
         "\"Say hi\"}], \"max_tokens\": 32}'\n" +
         "  curl -sN" + h + json + " " + base +
         "/v1/chat/completions -d '{\"model\": \"chat/default\", \"stream\": true, \"messages\": [{\"role\": "
         "\"user\", \"content\": \"Say hi\"}], \"max_tokens\": 32}'\n" +
         "  curl -s" + h + " " + base + "/v1/runtime/models\n" + "  curl -s" + h + " " + base + "/metrics\n";
}

}  // namespace xervo::server
