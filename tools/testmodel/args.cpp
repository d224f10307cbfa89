// Command-line flags of xervo-testmodel, parsed in the library so that tests (extra flags of
// test_model()) and the binary read them the same way.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <map>

#include "testmodel.h"

namespace xervo::testmodel {
namespace {

// Enums go through a string: CLI11's enum support trips over xervo's to_string() overloads.
template <typename Enum>
CLI::Option* add_choice(CLI::App& app, const std::string& flag, Enum& target,
                        const std::map<std::string, Enum>& names, const std::string& help) {
  std::vector<std::string> keys;
  for (const auto& [name, value] : names) keys.push_back(name);
  return app
      .add_option_function<std::string>(
          flag, [&target, names](const std::string& value) { target = names.at(value); }, help)
      ->check(CLI::IsMember(keys));
}

}  // namespace

Result<TestModelOptions> parse_test_model_args(const std::vector<std::string>& args, bool require_output) {
  TestModelOptions o;
  CLI::App app{"Writes a small GGUF model with random weights and a real tokenizer", "xervo-testmodel"};
  add_choice(app, "--kind", o.kind,
             {{"generator", ModelKind::generator},
              {"embedder", ModelKind::embedder},
              {"reranker", ModelKind::reranker}},
             "generator | embedder | reranker");
  add_choice(app, "--size", o.size,
             {{"tiny", ModelSize::tiny}, {"small", ModelSize::small}, {"medium", ModelSize::medium}},
             "tiny | small | medium");
  add_choice(app, "--type", o.type,
             {{"f32", WeightType::f32}, {"f16", WeightType::f16}, {"q8_0", WeightType::q8_0}},
             "f32 | f16 | q8_0 (default f16)");
  bool pooling_given = false;
  add_choice(app, "--pooling", o.pooling, {{"mean", Pooling::mean}, {"cls", Pooling::cls}},
             "mean | cls (embedder)")
      ->each([&](const std::string&) { pooling_given = true; });
  app.add_option("--vocab", o.vocab, "vocabulary name (vocab/ggml-vocab-NAME.gguf) or a .gguf path");
  app.add_option("--seed", o.seed, "weight seed (default 42)");
  app.add_option(
      "--chat-template", o.chat_template,
      "generator chat template: a name in llama.cpp's models/templates (no .jinja) or a .jinja path");
  std::string out, vocab_dir;
  auto* out_opt = app.add_option("-o,--output", out, "GGUF file to write");
  if (require_output) out_opt->required();
  app.add_option("--vocab-dir", vocab_dir, "folder of ggml-vocab-*.gguf files");
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 consumes from the back
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    return Error(ErrorCode::invalid_input, app.help());
  } catch (const CLI::ParseError& e) {
    return Error(ErrorCode::invalid_input, e.what());
  }
  if (pooling_given && o.kind != ModelKind::embedder)
    return Error(ErrorCode::invalid_input,
                 "--pooling applies to --kind embedder only (rerankers always use rank pooling)");
  if (!o.chat_template.empty() && o.kind != ModelKind::generator)
    return Error(ErrorCode::invalid_input, "--chat-template applies to --kind generator only");
  o.output = out;
  if (!vocab_dir.empty()) o.vocab_dir = vocab_dir;
  return o;
}

}  // namespace xervo::testmodel
