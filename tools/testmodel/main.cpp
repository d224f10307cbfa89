// xervo-testmodel: writes a generated GGUF test model (see docs/test-models.md).
#include <cstdio>
#include <string>
#include <vector>

#include "testmodel.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& a : args)
    if (a == "-h" || a == "--help") {
      auto usage = xervo::testmodel::parse_test_model_args({"--help"});
      std::fputs(usage.error().message().c_str(), stdout);
      return 0;
    }
  auto options = xervo::testmodel::parse_test_model_args(args);
  if (!options) {
    std::fprintf(stderr, "xervo-testmodel: %s (see --help)\n", options.error().message().c_str());
    return 2;
  }
  auto written = xervo::testmodel::write_test_model(*options);
  if (!written) {
    std::fprintf(stderr, "xervo-testmodel: %s\n", written.error().message().c_str());
    return written.error().code() == xervo::ErrorCode::io_error ? 1 : 2;
  }
  return 0;
}
