// A small application over the installed xervo package: builds a runtime with one embedding alias
// and one reranker alias over local GGUF files, embeds a few sentences and ranks them against a
// query. Built out of tree the way a user builds it (see CMakeLists.txt beside it).
//   xervo-embed-app EMBEDDER.gguf RERANKER.gguf
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "xervo/providers.h"
#include "xervo/runtime.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s EMBEDDER.gguf RERANKER.gguf\n", argv[0]);
    return 2;
  }
  xervo::RuntimeBuilder builder;
  xervo::ModelSpec embed;
  embed.alias = "embed/app";
  embed.task = xervo::ModelTask::embed;
  embed.provider = "llamacpp";
  embed.model = argv[1];
  builder.add_spec(embed);
  xervo::ModelSpec rerank = embed;
  rerank.alias = "rerank/app";
  rerank.task = xervo::ModelTask::rerank;
  rerank.model = argv[2];
  builder.add_spec(rerank);
  xervo::add_builtin_providers(builder);
  auto runtime = builder.build();
  if (!runtime.ok()) {
    std::fprintf(stderr, "error: %s\n", runtime.error().to_string().c_str());
    return 1;
  }

  const std::vector<std::string> texts = {"the cat sat on the mat", "a dog in the park",
                                          "stock markets fell"};
  auto model = (*runtime)->embedding("embed/app");
  if (!model.ok()) {
    std::fprintf(stderr, "error: %s\n", model.error().to_string().c_str());
    return 1;
  }
  auto vectors = (*model)->embed(texts);
  if (!vectors.ok()) {
    std::fprintf(stderr, "error: %s\n", vectors.error().to_string().c_str());
    return 1;
  }
  for (size_t i = 0; i < texts.size(); ++i) {
    double norm = 0;
    for (float v : vectors->vectors[i]) norm += double(v) * v;
    std::printf("embedding %zu: %d dimensions, norm %.3f\n", i, vectors->dimensions, std::sqrt(norm));
  }

  auto reranker = (*runtime)->reranker("rerank/app");
  if (!reranker.ok()) {
    std::fprintf(stderr, "error: %s\n", reranker.error().to_string().c_str());
    return 1;
  }
  auto ranked = (*reranker)->rerank("where is the cat", texts, 2);
  if (!ranked.ok()) {
    std::fprintf(stderr, "error: %s\n", ranked.error().to_string().c_str());
    return 1;
  }
  for (const auto& r : ranked->results) std::printf("rank: document %zu score %.4f\n", r.index, r.score);
  std::printf("ok\n");
  return 0;
}
