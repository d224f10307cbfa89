#!/usr/bin/env bash
# Compile time of test code at the build's flags (-O2 -g, RelWithDebInfo) against the -O0 -g that
# tests/CMakeLists.txt gives test code: the heaviest test files, compiled without ccache, each flag set
# in turn (A B A B ...), ROUNDS rounds; prints the median per file and the ratio.
# Usage: bash bench/build/test_flags.sh [BUILD]   (knobs: ROUNDS=3, FILES="path.o ...")
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${ROUNDS:-3}
FILES=${FILES:-"tests/server/CMakeFiles/xervo_server_tests.dir/access_routes_test.cpp.o
tests/server/CMakeFiles/xervo_server_tests.dir/ollama_routes_test.cpp.o
tests/providers/llamacpp/CMakeFiles/llamacpp_test.dir/tool_calling_test.cpp.o"}
cd "$BUILD"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '| file | -O2 -g s | -O0 -g s | ratio -O0/-O2 |\n|---|---|---|---|\n'
for obj in $FILES; do
  # The object's compile command without the launcher, writing elsewhere.
  cmd=$(ninja -t commands "$obj" | tail -1 | sed 's|^.*ccache ||; s| -o [^ ]*| -o '"$out"'/x.o|')
  for flags in "-O2 -g" "-O0 -g"; do : >"$out/${flags// /_}"; done
  for _ in $(seq "$ROUNDS"); do
    for flags in "-O2 -g" "-O0 -g"; do
      c=$(echo "$cmd" | sed "s/ -O0 / /; s/ -O2 -g / $flags /")
      /usr/bin/time -f %e -o "$out/t" sh -c "$c" >/dev/null 2>&1
      cat "$out/t" >>"$out/${flags// /_}"
    done
  done
  a=$(median <"$out/-O2_-g"); b=$(median <"$out/-O0_-g")
  printf '| %s | %s | %s | %.2f |\n' "$(basename "$obj" .o)" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {print b / a}')"
done
