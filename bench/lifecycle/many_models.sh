#!/usr/bin/env bash
# Many models, one budget: MANY_CONNECTIONS clients request 5 generated models round-robin (streamed
# chat) for MANY_SECONDS, against `xervo serve` with a [runtime] memory_budget that holds
# LIFECYCLE_FIT models' worth of what xervo charges for one, and against llama-server in router mode
# (--models-dir on the same files) with --models-max the whole number of models that budget holds.
# While each runs, the RSS of its process tree (the router and its per-model instances) is sampled.
# "under budget": the peak RSS less the server's RSS before its first load stayed within the budget.
# MANY_ROUNDS rounds, each starting both servers afresh one after the other, the order swapping every
# round so that both meet the same drift in the machine's speed; samples are pooled over the rounds.
#   bash bench/lifecycle/many_models.sh [BUILD]
#   MANY_SECONDS=30 MANY_ROUNDS=2 MANY_CONNECTIONS=8 MANY_PARALLEL=4 LIFECYCLE_FIT=2.5 LIFECYCLE_MAX_TOKENS=16
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SECS=${MANY_SECONDS:-30}
ROUNDS=${MANY_ROUNDS:-2}
CONN=${MANY_CONNECTIONS:-8}
PARALLEL=${MANY_PARALLEL:-4}
N=5
source bench/lifecycle/common.sh
make_models "$N"
PER_MODEL=$(charged_bytes "$PARALLEL")
BUDGET=$(budget_for "$PER_MODEL")
FITS=$(models_that_fit)
NAMES=$(seq -s, -f 'gen-%g' 1 "$N")
rm -f "$WORK"/many-*

{
  for i in $(seq 1 "$N"); do alias_toml "gen-$i" "gen-$i" "$PARALLEL"; done
  runtime_toml "$BUDGET"
} >"$WORK/many.toml"

evictions() {  # label log-file
  if [ "$1" = xervo ]; then
    http GET "$XERVO_PORT" /metrics | awk '$1 ~ /^xervo_model_evictions_total/ { n += $2 } END { print n + 0 }'
  else
    grep -cE 'evicting idle LRU|removing LRU' "$2" || true  # for a queued request | at --models-max
  fi
}
run() {  # label round: start the server, load it, sample its RSS, stop it: many-LABEL-ROUND.*
  local label=$1 out=$WORK/many-$1-$2 port pid sampler
  local log=$out.log
  if [ "$label" = xervo ]; then
    start_xervo "$WORK/many.toml" "$log"
    port=$XERVO_PORT pid=$XERVO_PID
  else
    start_llama "$log" --models-dir "$MODELS" --models-max "$FITS" -c $((CTX * PARALLEL)) -np "$PARALLEL"
    port=$PORT pid=$LLAMA_PID
  fi
  "$RSS" --pid "$pid" >"$out.rss" &
  sampler=$!
  "$CLIENT" --port "$port" --mode chat -c "$CONN" --model "$NAMES" --seconds "$SECS" \
    --max-tokens "$MAX_TOKENS" --drain --raw "$out.raw" >/dev/null || echo "$label: no successful request" >&2
  kill -TERM "$sampler"
  wait "$sampler" || true
  evictions "$label" "$log" >"$out.evictions"
  stop_servers
}
for round in $(seq 1 "$ROUNDS"); do
  order="xervo llama-server"
  [ $((round % 2)) -eq 0 ] && order="llama-server xervo"
  for label in $order; do run "$label" "$round"; done
done
over_rounds() {  # label key: that number of every round's RSS sample, one a line, sorted
  local f
  for f in "$WORK/many-$1"-*.rss; do json_number "$2" <"$f"; done | sort -n
}

echo "### Many models, one budget ($N models round-robin)"
echo
echo "$CONN connections for $ROUNDS x ${SECS}s per server over $N $SIZE generators of $(mib "$(stat -c %s "$(model_file gen-1)")") MiB" \
  "(streamed chat, max_tokens $MAX_TOKENS, context $CTX x $PARALLEL slots, $THREADS threads);" \
  "xervo charges $(mib "$PER_MODEL") MiB a model, memory_budget $(mib "$BUDGET") MiB ($FIT models), max_loaded unset;" \
  "llama-server --models-max $FITS."
echo
echo "| server | requests | failed | req/s | p50 (ms) | p99 (ms) | evictions | RSS before (MiB) | peak RSS (MiB) | peak − before (MiB) | under budget |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
declare -A rps p99 peak
for label in xervo llama-server; do
  out=$("$CLIENT" --mode chat -c "$CONN" --summarize "$WORK/many-$label"-*.raw || true)
  rps[$label]=$(summary_field "$out" requests_per_s)
  p99[$label]=$(summary_field "$out" p99_ms)
  start_kb=$(over_rounds "$label" start_kb | head -1)
  peak_kb=$(over_rounds "$label" peak_kb | tail -1)
  peak[$label]=$peak_kb
  growth=$(((peak_kb - start_kb) * 1024))
  under=yes
  [ "$growth" -le "$BUDGET" ] || under="no (+$(mib $((growth - BUDGET))) MiB)"
  printf "| %s | %s | %s | %.2f | %.0f | %.0f | %s | %s | %s | %s | %s |\n" "$label" \
    "$(summary_field "$out" requests)" "$(summary_field "$out" errors)" "${rps[$label]}" \
    "$(summary_field "$out" p50_ms)" "${p99[$label]}" "$(cat "$WORK/many-$label"-*.evictions | awk '{ n += $1 } END { print n }')" \
    "$(mib $((start_kb * 1024)))" "$(mib $((peak_kb * 1024)))" "$(mib "$growth")" "$under"
done
echo "| xervo / llama-server | | | $(ratio "${rps[xervo]}" "${rps[llama-server]}") | |" \
  "$(ratio "${p99[xervo]}" "${p99[llama-server]}") | | | $(ratio "${peak[xervo]}" "${peak[llama-server]}") | | |"
