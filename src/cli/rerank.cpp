// `xervo rerank -m MODEL -q QUERY [--top-n N] [--json] DOC...`: documents ranked by relevance to
// the query, best first. Documents come from stdin (one per line) when none are given.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/task_common.h"

namespace xervo::cli {
namespace {

struct RerankFlags {
  std::string model;
  std::string query;
  std::vector<std::string> documents;
  std::optional<size_t> top_n;
  bool json = false;
};

void run_rerank(const GlobalOptions& globals, const RerankFlags& flags) {
  std::vector<std::string> docs = flags.documents.empty() ? read_stdin_lines() : flags.documents;
  if (docs.empty())
    throw Exception(Error(ErrorCode::invalid_input, "no documents: pass DOC... or lines on stdin"));
  quiet_library_logs();
  auto runtime = open_runtime(globals);
  auto model = runtime->reranker(model_id_for(globals, *runtime, flags.model)).value_or_throw();
  auto result = model->rerank(flags.query, docs, flags.top_n).value_or_throw();
  for (const auto& r : result.results)
    if (r.index >= docs.size())
      throw Exception(Error(ErrorCode::inference_failed, "model returned document index " +
                                                             std::to_string(r.index) + " for " +
                                                             std::to_string(docs.size()) + " documents"));
  if (flags.json) {
    nlohmann::json results = nlohmann::json::array();
    for (const auto& r : result.results)
      results.push_back(
          {{"index", r.index}, {"relevance_score", r.score}, {"document", {{"text", docs[r.index]}}}});
    nlohmann::json out = {
        {"object", "list"},
        {"model", result.served_by.empty() ? flags.model : result.served_by},
        {"results", std::move(results)},
        {"usage", {{"prompt_tokens", result.usage.prompt_tokens}, {"total_tokens", result.usage.total()}}}};
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  int rank = 1;
  for (const auto& r : result.results)
    std::printf("%d\t%.6f\t[%zu] %s\n", rank++, r.score, r.index, docs[r.index].c_str());
}

void setup_rerank(CLI::App& app, GlobalOptions& globals) {
  auto flags = std::make_shared<RerankFlags>();
  auto* cmd =
      app.add_subcommand("rerank", "Rank documents by relevance to a query (rank, score, [index] document)");
  cmd->add_option("-m,--model", flags->model, "alias, .gguf path, library:ID, hf:ORG/REPO or PROVIDER:MODEL")
      ->required();
  cmd->add_option("-q,--query", flags->query, "the query")->required();
  cmd->add_option("--top-n", flags->top_n, "keep the N best documents")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", flags->json, "print a JSON response (index, relevance_score, document)");
  cmd->add_option("document", flags->documents, "documents (default: one per line from stdin)");
  add_demo_flag(cmd, globals);
  cmd->callback([&globals, flags] { run_rerank(globals, *flags); });
}

}  // namespace

XERVO_CLI_COMMAND(31, setup_rerank);

}  // namespace xervo::cli
