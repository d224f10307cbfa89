// Runs the xervo binary built by this tree, with no config file unless a test writes one.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "test_models.h"

namespace xervo::cli_test {

inline testing::CommandResult xervo(std::vector<std::string> args,
                                    std::chrono::seconds timeout = std::chrono::seconds(120)) {
  args.insert(args.begin(), XERVO_BIN);
  return testing::run_command(args, timeout);
}

inline testing::CommandResult xervo_with_input(std::vector<std::string> args, const std::string& input,
                                               std::chrono::seconds timeout = std::chrono::seconds(120)) {
  args.insert(args.begin(), XERVO_BIN);
  return testing::run_command_with_input(args, input, timeout);
}

// As xervo(), through env(1): `env` holds NAME=VALUE entries and "-u", "NAME" pairs.
inline testing::CommandResult xervo_env(std::vector<std::string> env, std::vector<std::string> args,
                                        std::chrono::seconds timeout = std::chrono::seconds(120)) {
  std::vector<std::string> argv = {"env"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.push_back(XERVO_BIN);
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::run_command(argv, timeout);
}

inline testing::CommandResult xervo_env_with_input(std::vector<std::string> env,
                                                   std::vector<std::string> args, const std::string& input,
                                                   std::chrono::seconds timeout = std::chrono::seconds(120)) {
  std::vector<std::string> argv = {"env"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.push_back(XERVO_BIN);
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::run_command_with_input(argv, input, timeout);
}

// A fresh empty folder under the temp dir, removed by the destructor (a test's XERVO_HOME).
struct TempHome {
  std::filesystem::path path;
  explicit TempHome(const std::string& name) {
    path = std::filesystem::temp_directory_path() / ("xervo-cli-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempHome() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

inline long count_lines(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

// A config file with one alias, removed by the destructor.
struct TempConfig {
  std::filesystem::path path;
  explicit TempConfig(const std::string& toml) {
    path = std::filesystem::temp_directory_path() /
           ("xervo-cli-test-" + std::to_string(::getpid()) + "-" +
            std::to_string(reinterpret_cast<uintptr_t>(this)) + ".toml");
    std::ofstream(path) << toml;
  }
  ~TempConfig() { std::filesystem::remove(path); }
};

}  // namespace xervo::cli_test
