# Shared by the bench/real scripts (sourced from the repository root with BUILD set): where the
# real models are (scripts/bootstrap section 4), the llama.cpp tools, medians and ratios, and
# skipping (exit 0 with a message) when bootstrap could not install the models.
source bench/server/common.sh
DEPS=${XERVO_DEPS_DIR:-$HOME/.cache/xervo/deps}
REAL_MODELS=$DEPS/models
GEMMA=$REAL_MODELS/gemma-3-270m-q4_k_m.gguf
MINILM_CHECKPOINT=$REAL_MODELS/all-MiniLM-L6-v2
THREADS=${BENCH_THREADS:-$(nproc)}
LLAMA_BIN=$DEPS/llama.cpp/build/bin
XERVO=$BUILD/src/cli/xervo
WORK=$BUILD/bench-real
mkdir -p "$WORK"
trap stop_servers EXIT

need_tools() {  # binaries...: all must exist
  local f
  for f in "$@"; do
    [ -x "$f" ] || { echo "bench/real: missing $f (build first: make build)" >&2; exit 1; }
  done
}
need_real_model() {  # path: skip the benchmark (exit 0) when bootstrap did not install it
  [ -e "$1" ] && return 0
  echo "bench/real: $1 is missing (scripts/bootstrap installs it when the package index is reachable); skipped"
  exit 0
}
median() {  # numbers on stdin, one a line: their median ("-" when none)
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
                  else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
fmt() { awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else printf "%.1f", v }'; }
json_field() {  # key < one JSON line: the number under that key
  sed -n "s/.*\"$1\": *\(-\{0,1\}[0-9][0-9.e+-]*\).*/\1/p" | head -1
}
order_of_round() {  # round: "xervo ref" on odd rounds, "ref xervo" on even ones
  [ $(($1 % 2)) -eq 1 ] && echo "xervo ref" || echo "ref xervo"
}
