#!/usr/bin/env bash
# Gemma 3 270M (Q4_K_M, from scripts/bootstrap) prompt processing and generation speed: xervo
# through its public C++ API (xervo_bench_gemma: ModelRuntime, the scheduler, llama_decode and the
# sampler, as an application calls it) against llama.cpp's llama-bench on the same file, threads,
# prompt and generation lengths, batch 512. Rounds alternate which side runs first; the table gives
# each side's median over the rounds and xervo / llama-bench.
#   bash bench/real/gemma_speed.sh [BUILD]
#   GEMMA_ROUNDS=3 GEMMA_REPS=2 GEMMA_PROMPT=512 GEMMA_GEN=128 BENCH_THREADS=nproc
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
source bench/real/common.sh
need_real_model "$GEMMA"
ROUNDS=${GEMMA_ROUNDS:-3}
REPS=${GEMMA_REPS:-2}
PP=${GEMMA_PROMPT:-512}
TG=${GEMMA_GEN:-128}
XERVO_GEMMA=$BUILD/bench/real/xervo_bench_gemma
LLAMA_BENCH=$LLAMA_BIN/llama-bench
need_tools "$XERVO_GEMMA" "$LLAMA_BENCH"
cat "$GEMMA" >/dev/null  # in the page cache for both sides

run_side() {  # side round: appends "pp tg" to $WORK/gemma-SIDE.txt
  local out=$WORK/gemma-$1-$2.out pp tg
  if [ "$1" = xervo ]; then
    XERVO_LOG=error "$XERVO_GEMMA" "$GEMMA" "$THREADS" "$PP" "$TG" "$REPS" >"$out" 2>"$out.err" ||
      { echo "bench/real: xervo_bench_gemma failed; see $out.err" >&2; exit 1; }
    pp=$(json_field pp_tps <"$out")
    tg=$(json_field tg_tps <"$out")
    local made
    made=$(json_field gen_tokens <"$out")
    [ "$made" -ge "$TG" ] || echo "note: xervo generated $made of $TG tokens in round $2 (end of text)" >&2
  else
    "$LLAMA_BENCH" -m "$GEMMA" -t "$THREADS" -p "$PP" -n "$TG" -r "$REPS" -b 512 -ub 512 -o jsonl \
      >"$out" 2>"$out.err" || { echo "bench/real: llama-bench failed; see $out.err" >&2; exit 1; }
    pp=$(grep '"n_gen": 0,' "$out" | json_field avg_ts)
    tg=$(grep '"n_prompt": 0,' "$out" | json_field avg_ts)
  fi
  echo "$pp $tg" >>"$WORK/gemma-$1.txt"
  printf '| %d | %-11s | %10.1f | %10.1f |\n' "$2" "$1" "$pp" "$tg"
}

rm -f "$WORK"/gemma-xervo.txt "$WORK"/gemma-ref.txt
echo "bench/real/gemma_speed: $(basename "$GEMMA"), $THREADS threads, pp $PP tokens, tg $TG tokens," \
  "$ROUNDS rounds of $REPS repetitions per side (load: $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| round | side | pp t/s | tg t/s |"
echo "|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
  for side in $(order_of_round "$round"); do run_side "$side" "$round"; done
done | sed 's/| ref         |/| llama-bench |/'

xpp=$(awk '{print $1}' "$WORK/gemma-xervo.txt" | median)
xtg=$(awk '{print $2}' "$WORK/gemma-xervo.txt" | median)
rpp=$(awk '{print $1}' "$WORK/gemma-ref.txt" | median)
rtg=$(awk '{print $2}' "$WORK/gemma-ref.txt" | median)
echo
echo "| Gemma 3 270M Q4_K_M, $THREADS threads (median of $ROUNDS rounds) | xervo | llama-bench | xervo / llama-bench |"
echo "|---|---|---|---|"
echo "| prompt processing, $PP tokens (tokens/s) | $(fmt "$xpp") | $(fmt "$rpp") | $(ratio "$xpp" "$rpp") |"
echo "| generation, $TG tokens (tokens/s) | $(fmt "$xtg") | $(fmt "$rtg") | $(ratio "$xtg" "$rtg") |"
