// `xervo chat -m MODEL [--system S]`: a multi-turn chat in the terminal. Each line read from stdin
// is a user turn; the answer streams to stdout and both stay in the history. /exit or EOF ends,
// /reset clears the history. Ctrl-C during an answer stops that answer only. Works with a pipe.
// With --tool FILE.json the model may call functions: each call prints as one JSON line, and
// `/tool RESULT` answers the oldest call not answered yet (the model then continues).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/task_common.h"
#include "cli/task_generate_flags.h"
#include "cli/task_interrupt.h"

namespace xervo::cli {
namespace {

void run_chat(const GlobalOptions& globals, const GenerateFlags& flags) {
  quiet_library_logs();
  auto runtime = open_runtime(globals);
  auto model = runtime->generator(model_id_for(globals, *runtime, flags.model)).value_or_throw();
  const bool interactive = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
  std::vector<ChatMessage> history;
  if (!flags.system.empty()) history.push_back({"system", flags.system});
  const size_t base = history.size();
  std::vector<ToolCall> pending_calls;  // calls of the last answer not yet answered with /tool
  if (interactive)
    std::fprintf(stderr, "chat with %s (/exit to quit, /reset to forget)\n", flags.model.c_str());
  for (;;) {
    if (interactive) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
    }
    std::string line;
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      history.resize(base);
      pending_calls.clear();
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (line.rfind("/tool ", 0) == 0) {
      if (pending_calls.empty()) {
        std::fprintf(stderr, "no tool call to answer\n");
        continue;
      }
      ChatMessage result{"tool", line.substr(6)};
      result.tool_call_id = pending_calls.front().id;
      result.name = pending_calls.front().name;
      pending_calls.erase(pending_calls.begin());
      history.push_back(std::move(result));
      if (!pending_calls.empty()) continue;  // every call is answered before the model goes on
    } else {
      pending_calls.clear();
      history.push_back({"user", line});
    }

    GenerateRequest request;
    request.messages = history;
    request.options = flags.options();
    flags.add_tools(request);
    InterruptScope interrupt;  // only while answering: Ctrl-C at the prompt ends the program
    request.cancel = interrupt.token();
    bool ends_with_newline = true;
    const auto start = std::chrono::steady_clock::now();
    auto result = model->generate(request, [&](std::string_view piece) {
      if (!piece.empty()) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        ends_with_newline = piece.back() == '\n';
      }
      return !interrupt.interrupted();
    });
    if (!ends_with_newline) std::fputc('\n', stdout);
    if (result) print_tool_calls(result->tool_calls);
    std::fflush(stdout);
    const bool cancelled = interrupt.interrupted() ||
                           (result && result->finish_reason == FinishReason::cancelled) ||
                           (!result && result.error().code() == ErrorCode::cancelled);
    if (cancelled) {
      std::fprintf(stderr, "[answer stopped]\n");
      history.pop_back();  // a half answer would confuse the next turn (a tool result stays out too)
      continue;
    }
    if (!result) throw Exception(result.error());
    if (request.options.logprobs) print_logprobs(*result);
    if (flags.stats)
      print_generation_stats(*result,
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    ChatMessage answer{"assistant", result->text};
    answer.tool_calls = result->tool_calls;
    pending_calls = result->tool_calls;
    history.push_back(std::move(answer));
  }
}

void setup_chat(CLI::App& app, GlobalOptions& globals) {
  auto flags = std::make_shared<GenerateFlags>();
  auto* cmd = app.add_subcommand("chat", "Interactive multi-turn chat (one user turn per stdin line)");
  flags->add_to(*cmd);
  add_demo_flag(cmd, globals);
  cmd->callback([&globals, flags] { run_chat(globals, *flags); });
}

}  // namespace

XERVO_CLI_COMMAND(33, setup_chat);

}  // namespace xervo::cli
