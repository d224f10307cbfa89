// A model file's chat template is untrusted input: one that loops without end, grows without
// bound, crashes its renderer, is huge or does not parse fails the load with model_load_failed and
// a reason, within its limits, and the process goes on serving. A template that merely refuses
// some conversations still loads.
#include <gguf.h>
#include <unistd.h>

#include "helpers.h"
#include "providers/llamacpp/llama_handles.h"

namespace xervo::testing {
namespace {

namespace fs = std::filesystem;

class HostileTemplates : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("xervo-templates-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A copy of a generated model with one metadata string replaced.
  fs::path with_metadata(std::string_view kind, const std::string& key, const std::string& value) {
    ggml_context* data = nullptr;
    gguf_init_params params{/*no_alloc=*/false, &data};
    llamacpp::GgufPtr source(gguf_init_from_file(test_model(kind).c_str(), params));
    EXPECT_TRUE(source);
    llamacpp::GgufPtr copy(gguf_init_empty());
    gguf_set_kv(copy.get(), source.get());
    gguf_set_val_str(copy.get(), key.c_str(), value.c_str());
    for (int64_t i = 0; i < gguf_get_n_tensors(source.get()); ++i)
      gguf_add_tensor(copy.get(), ggml_get_tensor(data, gguf_get_tensor_name(source.get(), i)));
    const fs::path out = dir_ / (std::string(kind) + ".gguf");
    EXPECT_TRUE(gguf_write_to_file(copy.get(), out.c_str(), /*only_meta=*/false));
    ggml_free(data);
    return out;
  }
  fs::path with_template(const std::string& tmpl) {
    return with_metadata("generator", "tokenizer.chat_template", tmpl);
  }
  static Result<LoadedModel> load(const fs::path& file, ModelTask task = ModelTask::generate,
                                  nlohmann::json options = nlohmann::json::object()) {
    auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
    return provider->load(spec_for(task, file, std::move(options)), nullptr);
  }
  static void expect_refused(const Result<LoadedModel>& r, const std::vector<std::string>& any_of) {
    ASSERT_FALSE(r.ok()) << "the model loaded";
    EXPECT_EQ(r.error().code(), ErrorCode::model_load_failed) << r.error().to_string();
    EXPECT_NE(r.error().message().find("chat template"), std::string::npos) << r.error().message();
    bool found = false;
    for (const auto& s : any_of) found = found || r.error().message().find(s) != std::string::npos;
    EXPECT_TRUE(found) << r.error().message();
  }
  fs::path dir_;
};

const std::string kChatMl =
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

TEST_F(HostileTemplates, ALoopThatNeverEndsFailsTheLoadWithinItsTimeout) {
  const auto file = with_template(
      "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}" + kChatMl);
  expect_refused(load(file, ModelTask::generate, {{"template_timeout_ms", 1000}}), {"did not finish"});
}

TEST_F(HostileTemplates, OutputThatGrowsWithoutEndFailsTheLoad) {
  const auto file = with_template("{% set mb = 'x' * 1000000 %}{{ mb * 100000 }}" + kChatMl);
  expect_refused(load(file), {"ran out of memory"});
}

TEST_F(HostileTemplates, AHugeFiniteOutputFailsTheLoad) {
  const auto file =
      with_template("{% for i in range(1100) %}" + std::string(1000, 'x') + "{% endfor %}" + kChatMl);
  expect_refused(load(file), {"renders"});
}

TEST_F(HostileTemplates, EndlessRecursionFailsTheLoad) {
  const auto file = with_template("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}" + kChatMl);
  expect_refused(load(file, ModelTask::generate, {{"template_timeout_ms", 2000}}),
                 {"crashed", "ran out of memory", "did not finish"});
}

TEST_F(HostileTemplates, ATemplateOverTheSizeLimitFailsTheLoad) {
  const auto file = with_template("{# " + std::string(300 * 1024, 'x') + " #}" + kChatMl);
  expect_refused(load(file), {"at most"});
}

TEST_F(HostileTemplates, ATemplateThatDoesNotParseFailsTheLoad) {
  const auto file = with_template("{% for %}{{ }}");
  expect_refused(load(file), {"does not parse"});
}

TEST_F(HostileTemplates, ATemplateThatRefusesSomeConversationsStillLoads) {
  const auto file = with_template(
      "{% if messages[0].role == 'system' %}{{ raise_exception('no system role') }}{% endif %}" + kChatMl);
  auto r = load(file);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  GenerateRequest req;
  req.messages = {{"user", "Say hi"}};
  req.options.temperature = 0;
  req.options.max_tokens = 4;
  auto out = r->generator->generate(req);
  EXPECT_TRUE(out.ok()) << out.error().to_string();
}

TEST_F(HostileTemplates, AnOverlongRerankTemplateFailsTheLoad) {
  const auto file =
      with_metadata("reranker", "tokenizer.chat_template.rerank", std::string(300 * 1024, '{') + "{query}");
  auto r = load(file, ModelTask::rerank);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::model_load_failed);
  EXPECT_NE(r.error().message().find("rerank template"), std::string::npos) << r.error().message();
}

TEST_F(HostileTemplates, AnOutOfRangeTimeoutIsAConfigError) {
  auto r = load(test_model("generator"), ModelTask::generate, {{"template_timeout_ms", 5}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::config_invalid);
}

}  // namespace
}  // namespace xervo::testing
