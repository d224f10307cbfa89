// `xervo embed -m MODEL [--json] TEXT...`: one vector per text, as JSON arrays one per line, or
// the OpenAI embeddings response shape with --json. Texts come from stdin (one per line) when none
// are given on the command line.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/task_common.h"

namespace xervo::cli {
namespace {

struct EmbedFlags {
  std::string model;
  std::vector<std::string> texts;
  std::optional<int> dimensions;
  bool truncate = false;
  bool json = false;
};

void run_embed(const GlobalOptions& globals, const EmbedFlags& flags) {
  std::vector<std::string> texts = flags.texts.empty() ? read_stdin_lines() : flags.texts;
  if (texts.empty())
    throw Exception(Error(ErrorCode::invalid_input, "no text to embed: pass TEXT... or lines on stdin"));
  quiet_library_logs();
  auto runtime = open_runtime(globals);
  auto model = runtime->embedding(model_id_for(globals, *runtime, flags.model)).value_or_throw();
  EmbedOptions options;
  options.dimensions = flags.dimensions;
  options.truncate = flags.truncate;
  auto result = model->embed(texts, options).value_or_throw();
  if (flags.json) {
    nlohmann::json data = nlohmann::json::array();
    for (size_t i = 0; i < result.vectors.size(); ++i)
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", result.vectors[i]}});
    nlohmann::json out = {
        {"object", "list"},
        {"data", std::move(data)},
        {"model", result.served_by.empty() ? flags.model : result.served_by},
        {"usage", {{"prompt_tokens", result.usage.prompt_tokens}, {"total_tokens", result.usage.total()}}}};
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  for (const auto& vector : result.vectors) {
    std::string line = "[";
    char buf[32];
    for (size_t i = 0; i < vector.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%s%.7g", i ? ", " : "", static_cast<double>(vector[i]));
      line += buf;
    }
    line += "]\n";
    std::fputs(line.c_str(), stdout);
  }
}

void setup_embed(CLI::App& app, GlobalOptions& globals) {
  auto flags = std::make_shared<EmbedFlags>();
  auto* cmd = app.add_subcommand("embed", "Embed texts: one vector per text");
  cmd->add_option("-m,--model", flags->model, "alias, .gguf path, library:ID, hf:ORG/REPO or PROVIDER:MODEL")
      ->required();
  cmd->add_option("--dimensions", flags->dimensions, "shorter vectors, where the model supports it")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--truncate", flags->truncate, "cut texts longer than the context instead of failing");
  cmd->add_flag("--json", flags->json, "print an OpenAI-style embeddings response");
  cmd->add_option("text", flags->texts, "texts to embed (default: one per line from stdin)");
  add_demo_flag(cmd, globals);
  cmd->callback([&globals, flags] { run_embed(globals, *flags); });
}

}  // namespace

XERVO_CLI_COMMAND(30, setup_embed);

}  // namespace xervo::cli
