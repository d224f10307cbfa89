#!/usr/bin/env bash
# Library search latency over 100,000 records: bench/library/run.sh [BUILD_DIR] [RECORDS] [REPEATS]
set -euo pipefail
BUILD=${1:-build}
BIN="$BUILD/bench/library/xervo_bench_library"
if [ ! -x "$BIN" ]; then
  cmake --build "$BUILD" --target xervo_bench_library >/dev/null
fi
XERVO_LOG=warn "$BIN" "${2:-100000}" "${3:-200}"
