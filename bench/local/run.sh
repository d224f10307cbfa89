#!/usr/bin/env bash
# Local engine benchmark: xervo (C++ API) against llama.cpp's llama-bench and llama-batched-bench on
# the same generated models (medium llama generator, small BERT embedder) and the same threads.
#   bash bench/local/run.sh [BUILD]   (BENCH_THREADS=nproc, BENCH_REPEATS=3 (best of),
#                                      BENCH_PARTS=single,batched,embed,concurrency)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
THREADS=${BENCH_THREADS:-$(nproc)}
DEPS=${XERVO_DEPS_DIR:-$HOME/.cache/xervo/deps}
LLAMA_BIN=$DEPS/llama.cpp/build/bin
GEN=$BUILD/tools/testmodel/xervo-testmodel
BENCH=$BUILD/bench/local/xervo_bench_local
for f in "$GEN" "$BENCH" "$LLAMA_BIN/llama-bench" "$LLAMA_BIN/llama-batched-bench"; do
  [ -x "$f" ] || { echo "bench/local: missing $f (build first: make build)" >&2; exit 1; }
done
WORK=$BUILD/bench-local
mkdir -p "$WORK"
GENERATOR=$WORK/generator-medium.gguf
EMBEDDER=$WORK/embedder-small.gguf
[ -f "$GENERATOR" ] || "$GEN" --kind generator --size medium -o "$GENERATOR"
[ -f "$EMBEDDER" ] || "$GEN" --kind embedder --size small -o "$EMBEDDER"
XERVO_LOG=${XERVO_LOG:-error} "$BENCH" "$GENERATOR" "$EMBEDDER" "$LLAMA_BIN" "$THREADS" \
  "${BENCH_PARTS:-single,batched,embed,concurrency}" "${BENCH_REPEATS:-3}"
