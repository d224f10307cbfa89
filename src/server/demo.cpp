#include "server/demo.h"

#include <unistd.h>
#include <algorithm>

#include <cstdlib>

#include "core/log.h"
#if XERVO_HAVE_TESTMODEL
#include "testmodel/testmodel.h"
#endif
#if XERVO_HAVE_LIBRARY
#include "xervo/library.h"
#endif

namespace xervo::server {


#if XERVO_HAVE_TESTMODEL
namespace {

struct DemoItem {
  testmodel::ModelKind kind;
  const char* stem;
  std::filesystem::path DemoModels::*member;
};
constexpr DemoItem kItems[] = {{testmodel::ModelKind::embedder, "embed-small", &DemoModels::embed},
                               {testmodel::ModelKind::reranker, "rerank-small", &DemoModels::rerank},
                               {testmodel::ModelKind::generator, "chat-small", &DemoModels::chat}};

Result<void> generate(const DemoItem& item, const std::filesystem::path& file) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec)
    return Error(ErrorCode::io_error, "cannot create " + file.parent_path().string() + ": " + ec.message() +
                                          "; set XERVO_HOME to a writable folder");
  testmodel::TestModelOptions options;
  options.kind = item.kind;
  options.size = testmodel::ModelSize::small;  // real shapes (bge-small-like embedder), about a second each
  options.type = testmodel::WeightType::q8_0;
  options.output = file;
  spdlog::info("generating demo model {}", file.string());
  auto r = testmodel::write_test_model(options);
  if (!r.ok())
    return Error(r.error().code(),
                 "cannot generate demo model " + file.string() + ": " + r.error().message());
  return {};
}

#if XERVO_HAVE_LIBRARY
Result<std::filesystem::path> in_library(ModelLibrary& library, const DemoItem& item) {
  std::string id = std::string("demo/") + item.stem;
  std::error_code ec;
  if (auto existing = library.get(id); existing.ok() && existing->state == LibraryModelState::ready &&
                                       std::filesystem::is_regular_file(existing->file, ec))
    return existing->file;
  // The library refuses to import from inside its own home: generate in a temporary folder.
  auto scratch_dir = std::filesystem::temp_directory_path() / ("xervo-demo-" + std::to_string(::getpid()));
  auto scratch = scratch_dir / (std::string(item.stem) + ".gguf");
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{scratch_dir};
  if (auto r = generate(item, scratch); !r.ok()) return r.error();
  ImportOptions import;
  import.mode = ImportMode::move;
  import.publisher = "demo";
  import.tags = {"demo"};
  auto outcomes = library.import_paths({scratch}, import);
  if (outcomes.size() != 1)
    return Error(ErrorCode::internal, "the library returned no outcome for " + scratch.string());
  if (outcomes[0].error) return *outcomes[0].error;
  return outcomes[0].model->file;
}
#endif

}  // namespace
#endif

Result<DemoModels> ensure_demo_models(const std::filesystem::path& home,
                                      const std::shared_ptr<ModelLibrary>& library) {
#if XERVO_HAVE_TESTMODEL
  DemoModels models;
  for (const auto& item : kItems) {
#if XERVO_HAVE_LIBRARY
    if (library) {
      auto file = in_library(*library, item);
      if (file.ok()) {
        models.*item.member = *file;
        continue;
      }
      spdlog::warn("demo model {} not in the library ({}); using a plain file", item.stem,
                   file.error().to_string());
    }
#endif
    auto file = home / "models" / "demo" / (std::string(item.stem) + ".gguf");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec))
      if (auto r = generate(item, file); !r.ok()) return r.error();
    models.*item.member = file;
  }
  return models;
#else
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
