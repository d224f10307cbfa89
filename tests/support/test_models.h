// Shared helpers for tests: generated model files (created once per build folder and reused by
// every test process), paths to llama.cpp's tools, running a command with a timeout, free ports.
// Every function is safe to call from several threads and from several processes at once.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace xervo::testing {

// A generated model file, created on first use in <build>/test-models/ and reused by every test
// process (safe when ctest runs tests in parallel: generate to a temp name, then rename).
// kind: "generator" | "embedder" | "reranker"; size: "tiny" | "small" | "medium";
// extra: more generator flags, e.g. "--type q8_0 --pooling cls" (part of the cache file name).
// Throws std::runtime_error (a test failure) when the model cannot be generated.
std::filesystem::path test_model(std::string_view kind, std::string_view size = "tiny",
                                 std::string_view extra = "");
std::filesystem::path llama_tool(std::string_view name);  // e.g. "llama-server", from XERVO_LLAMA_BIN
std::filesystem::path vocab_dir();
// Runs a command (argv), returns exit code and captured stdout (stderr discarded unless asked),
// killing it after `timeout`. For tests that drive llama.cpp's tools or the xervo binary.
// Both streams are captured here; `exit_code` is 128 + signal when the command died of a signal.
struct CommandResult {
  int exit_code;
  std::string out;
  std::string err;
  bool timed_out;
};
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::seconds timeout = std::chrono::seconds(120));
// As run_command, with `input` written to the command's stdin (then closed).
CommandResult run_command_with_input(const std::vector<std::string>& argv, const std::string& input,
                                     std::chrono::seconds timeout = std::chrono::seconds(120));
// A TCP port on 127.0.0.1 that was free a moment ago. Racy: it is closed before the caller's server
// binds it, so another process may take it first. Prefer starting the server on port 0 and reading
// the bound port back (ChildProcess::wait_for_listening_port() in process.h; in-process servers:
// bind_to_any_port). Kept for callers that must name a port up front.
int free_port();

}  // namespace xervo::testing
