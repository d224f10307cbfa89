// `xervo generate -m MODEL [flags] PROMPT`: streams the generated text to stdout as it comes.
// The raw prompt is completed as is (no chat template) unless --chat or --system makes it a chat
// message (--tool FILE.json makes it a chat too; the model's calls print as one JSON line each).
// Ctrl-C stops the generation cleanly (exit 130); --json prints one result at the end.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/task_common.h"
#include "cli/task_generate_flags.h"
#include "cli/task_interrupt.h"

namespace xervo::cli {
namespace {

struct GenerateCommandFlags {
  GenerateFlags common;
  std::string prompt;
  bool chat = false;
  std::string json_schema_file;
  bool json = false;
};

std::string read_schema(const std::string& path) {
  std::string text = read_text_file(path);
  auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object())
    throw Exception(
        Error(ErrorCode::invalid_input, "--json-schema " + path + " is not a JSON object (a JSON Schema)"));
  return text;
}

void run_generate(const GlobalOptions& globals, const GenerateCommandFlags& flags) {
  GenerateRequest request;
  request.options = flags.common.options();
  if (!flags.json_schema_file.empty()) request.options.json_schema = read_schema(flags.json_schema_file);
  std::string prompt = flags.prompt;
  if (prompt.empty() || prompt == "-") prompt.assign(std::istreambuf_iterator<char>(std::cin), {});
  if (prompt.empty())
    throw Exception(Error(ErrorCode::invalid_input, "empty prompt: pass PROMPT or text on stdin"));
  flags.common.add_tools(request);
  if (flags.chat || !flags.common.system.empty() || !request.tools.empty()) {  // tools need a chat
    if (!flags.common.system.empty()) request.messages.push_back({"system", flags.common.system});
    request.messages.push_back({"user", prompt});
  } else {
    request.prompt = prompt;
  }

  quiet_library_logs();
  auto runtime = open_runtime(globals);
  auto model = runtime->generator(model_id_for(globals, *runtime, flags.common.model)).value_or_throw();
  InterruptScope interrupt;
  request.cancel = interrupt.token();
  bool ends_with_newline = false;
  TokenCallback on_piece;
  if (!flags.json)
    on_piece = [&](std::string_view piece) {
      if (!piece.empty()) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        ends_with_newline = piece.back() == '\n';
      }
      return !interrupt.interrupted();
    };
  const auto start = std::chrono::steady_clock::now();
  auto result = model->generate(request, on_piece);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!result) {
    if (result.error().code() == ErrorCode::cancelled && interrupt.interrupted()) {
      std::fprintf(stderr, "%sxervo: generation cancelled\n", ends_with_newline || flags.json ? "" : "\n");
      throw CLI::RuntimeError(130);
    }
    if (!flags.json && !ends_with_newline) std::fputc('\n', stdout);
    throw Exception(result.error());
  }
  if (flags.json) {
    nlohmann::json out = {{"model", result->served_by.empty() ? flags.common.model : result->served_by},
                          {"text", result->text},
                          {"finish_reason", to_string(result->finish_reason)},
                          {"tool_calls", nlohmann::json::array()},
                          {"usage",
                           {{"prompt_tokens", result->usage.prompt_tokens},
                            {"completion_tokens", result->usage.completion_tokens},
                            {"total_tokens", result->usage.total()}}}};
    for (const auto& c : result->tool_calls)
      out["tool_calls"].push_back(
          {{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
    if (!result->reasoning.empty()) out["reasoning"] = result->reasoning;
    if (request.options.logprobs) out["logprobs"] = logprobs_json(result->logprobs);
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    if (!ends_with_newline && (!result->text.empty() || result->tool_calls.empty())) std::fputc('\n', stdout);
    print_tool_calls(result->tool_calls);
  }
  std::fflush(stdout);
  if (request.options.logprobs && !flags.json) print_logprobs(*result);
  if (flags.common.stats) print_generation_stats(*result, seconds);
  if (result->finish_reason == FinishReason::cancelled) {
    std::fprintf(stderr, "xervo: generation cancelled\n");
    throw CLI::RuntimeError(130);
  }
}

void setup_generate(CLI::App& app, GlobalOptions& globals) {
  auto flags = std::make_shared<GenerateCommandFlags>();
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt, streamed to stdout");
  flags->common.add_to(*cmd);
  cmd->add_flag("--chat", flags->chat,
                "send the prompt as a chat message (through the model's chat template)");
  cmd->add_option("--json-schema", flags->json_schema_file, "constrain the output to this JSON Schema file");
  cmd->add_flag("--json", flags->json, "print one JSON result (text, finish_reason, usage) at the end");
  cmd->add_option("prompt", flags->prompt, "the prompt (default or '-': read stdin)");
  add_demo_flag(cmd, globals);
  cmd->callback([&globals, flags] { run_generate(globals, *flags); });
}

}  // namespace

XERVO_CLI_COMMAND(32, setup_generate);

}  // namespace xervo::cli
