#!/usr/bin/env bash
# Many models, one budget: MANY_CONNECTIONS clients request 5 generated models round-robin (streamed
# chat) for MANY_SECONDS, against `xervo serve` with a [runtime] memory_budget that holds
# LIFECYCLE_FIT models' worth of what xervo charges for one, and against llama-server in router mode
# (--models-dir on the same files) with --models-max the whole number of models that budget holds.
# While each runs, the RSS of its process tree (the router and its per-model instances) is sampled.
# "under budget": the peak RSS less the server's RSS before its first load stayed within the budget.
#   bash bench/lifecycle/many_models.sh [BUILD]
#   MANY_SECONDS=30 MANY_CONNECTIONS=8 MANY_PARALLEL=4 LIFECYCLE_FIT=2.5 LIFECYCLE_MAX_TOKENS=16
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SECS=${MANY_SECONDS:-30}
CONN=${MANY_CONNECTIONS:-8}
PARALLEL=${MANY_PARALLEL:-4}
N=5
source bench/lifecycle/common.sh
make_models "$N"
PER_MODEL=$(charged_bytes "$PARALLEL")
BUDGET=$(budget_for "$PER_MODEL")
FITS=$(models_that_fit)
NAMES=$(seq -s, -f 'gen-%g' 1 "$N")

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
run() {  # label: start the server, load it, sample its RSS, stop it; leaves many-LABEL.{json,rss}
  local label=$1 port pid log=$WORK/many-$1.log sampler
  if [ "$label" = xervo ]; then
    start_xervo "$WORK/many.toml" "$log"
    port=$XERVO_PORT pid=$XERVO_PID
  else
    start_llama "$log" --models-dir "$MODELS" --models-max "$FITS" -c $((CTX * PARALLEL)) -np "$PARALLEL"
    port=$PORT pid=$LLAMA_PID
  fi
  "$RSS" --pid "$pid" >"$WORK/many-$label.rss" &
  sampler=$!
  "$CLIENT" --port "$port" --mode chat -c "$CONN" --model "$NAMES" --seconds "$SECS" \
    --max-tokens "$MAX_TOKENS" >"$WORK/many-$label.json" || echo "$label: no successful request" >&2
  kill -TERM "$sampler"
  wait "$sampler" || true
  evictions "$label" "$log" >"$WORK/many-$label.evictions"
  stop_servers
}
run xervo
run llama-server

echo "### Many models, one budget ($N models round-robin)"
echo
echo "$CONN connections for ${SECS}s per server over $N $SIZE generators of $(mib "$(stat -c %s "$(model_file gen-1)")") MiB" \
  "(streamed chat, max_tokens $MAX_TOKENS, context $CTX x $PARALLEL slots, $THREADS threads);" \
  "xervo charges $(mib "$PER_MODEL") MiB a model, memory_budget $(mib "$BUDGET") MiB ($FIT models), max_loaded unset;" \
  "llama-server --models-max $FITS."
echo
echo "| server | requests | failed | req/s | p50 (ms) | p99 (ms) | evictions | RSS before (MiB) | peak RSS (MiB) | peak − before (MiB) | under budget |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
declare -A rps p99 peak
for label in xervo llama-server; do
  out=$(cat "$WORK/many-$label.json")
  rss=$(cat "$WORK/many-$label.rss")
  rps[$label]=$(summary_field "$out" requests_per_s)
  p99[$label]=$(summary_field "$out" p99_ms)
  start_kb=$(json_number start_kb <<<"$rss")
  peak_kb=$(json_number peak_kb <<<"$rss")
  peak[$label]=$peak_kb
  growth=$(((peak_kb - start_kb) * 1024))
  under=yes
  [ "$growth" -le "$BUDGET" ] || under="no (+$(mib $((growth - BUDGET))) MiB)"
  printf "| %s | %s | %s | %.2f | %.0f | %.0f | %s | %s | %s | %s | %s |\n" "$label" \
    "$(summary_field "$out" requests)" "$(summary_field "$out" errors)" "${rps[$label]}" \
    "$(summary_field "$out" p50_ms)" "${p99[$label]}" "$(cat "$WORK/many-$label.evictions")" \
    "$(mib $((start_kb * 1024)))" "$(mib $((peak_kb * 1024)))" "$(mib "$growth")" "$under"
done
echo "| xervo / llama-server | | | $(ratio "${rps[xervo]}" "${rps[llama-server]}") | |" \
  "$(ratio "${p99[xervo]}" "${p99[llama-server]}") | | | $(ratio "${peak[xervo]}" "${peak[llama-server]}") | | |"
