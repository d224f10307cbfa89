// xervo-testmodel: writes a generated GGUF test model (see docs/test-models.md).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "testmodel.h"

namespace {

// `--describe`: the shape and parameter count of the options, without writing anything.
int describe(const xervo::testmodel::TestModelOptions& options) {
  auto shape = xervo::testmodel::describe_test_model(options);
  if (!shape) {
    std::fprintf(stderr, "xervo-testmodel: %s\n", shape.error().message().c_str());
    return 2;
  }
  std::printf("%s: n_embd %d, layers %d, heads %d/%d, ff %d, ctx %d, vocab %d, %.1f M parameters\n",
              shape->architecture.c_str(), shape->n_embd, shape->n_layer, shape->n_head, shape->n_head_kv,
              shape->n_ff, shape->n_ctx, shape->n_vocab, static_cast<double>(shape->parameters) / 1e6);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto has = [&](const char* flag) { return std::find(args.begin(), args.end(), flag) != args.end(); };
  if (has("-h") || has("--help")) {
    auto usage = xervo::testmodel::parse_test_model_args({"--help"});
    std::fputs(usage.error().message().c_str(), stdout);
    std::fputs("\n  --describe    print the shape and parameter count instead of writing a file\n", stdout);
    return 0;
  }
  const bool describe_only = has("--describe");
  std::erase(args, std::string("--describe"));
  auto options = xervo::testmodel::parse_test_model_args(args, /*require_output=*/!describe_only);
  if (!options) {
    std::fprintf(stderr, "xervo-testmodel: %s (see --help)\n", options.error().message().c_str());
    return 2;
  }
  if (describe_only) return describe(*options);
  auto written = xervo::testmodel::write_test_model(*options);
  if (!written) {
    std::fprintf(stderr, "xervo-testmodel: %s\n", written.error().message().c_str());
    return written.error().code() == xervo::ErrorCode::io_error ? 1 : 2;
  }
  return 0;
}
