// The shape of every end-to-end test with an npm client: a config in a fresh temp folder, the real
// `xervo serve` on it, one node script against it, then SIGTERM and a clean exit. Include it from a
// test target that defines XERVO_BINARY, XERVO_NODE and XERVO_NODE_MODULES
// (xervo_node_e2e_test() in tests/server/CMakeLists.txt does).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "process.h"
#include "test_models.h"

namespace xervo::testing {

// An empty folder of its own for this test process.
inline std::filesystem::path fresh_test_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("xervo-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

struct NodeScript {
  std::string script;            // path of the .cjs file
  std::string url_path;          // appended to the server's URL for argv[2] ("" or "/v1")
  std::vector<std::string> env;  // NAME=VALUE for the script (keys)
  std::string marker = "ok:";    // a line the script prints when every check passed
  std::chrono::seconds timeout = std::chrono::seconds(240);
};

// Serves `config` and runs `node` against it; `check` (optional) sees the server after the script
// and before the stop. Every failure says what the script and the server printed.
inline void run_node_against_serve(const std::filesystem::path& config, const NodeScript& node,
                                   const std::function<void(XervoServe&)>& check = {}) {
  XervoServe server(XERVO_BINARY, config);
  std::vector<std::string> argv = {"env", "NODE_PATH=" XERVO_NODE_MODULES};
  argv.insert(argv.end(), node.env.begin(), node.env.end());
  argv.insert(argv.end(), {XERVO_NODE, node.script, server.url(node.url_path)});
  auto run = run_command(argv, node.timeout);
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err << "\n--- server log ---\n" << server.log();
  EXPECT_NE(run.out.find(node.marker), std::string::npos) << run.out;
  if (check) check(server);
  auto code = server.terminate();
  ASSERT_TRUE(code.has_value()) << "xervo serve did not exit after SIGTERM\n" << server.log();
  EXPECT_EQ(*code, 0) << server.log();
}

}  // namespace xervo::testing
