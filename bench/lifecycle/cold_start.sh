#!/usr/bin/env bash
# Cold start of an evicted model whose file is in the page cache: time to first token of a streamed
# chat completion for a model that is not loaded, `xervo serve` against llama-server in router mode
# (--models-dir, autoload: a request for a model that is not running starts an instance for it).
# Each repetition unloads the model (xervo: POST /v1/runtime/models/unload; llama-server: POST
# /models/unload, then waits for its instance to exit), makes one request (cold), then one more (warm).
# One unmeasured request first, so that neither server's first load of the process is counted.
#   bash bench/lifecycle/cold_start.sh [BUILD]     COLD_REPS=7 COLD_PARALLEL=4 LIFECYCLE_MAX_TOKENS=16
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
REPS=${COLD_REPS:-7}
PARALLEL=${COLD_PARALLEL:-4}
source bench/lifecycle/common.sh
make_models 1
PER_MODEL=$(charged_bytes "$PARALLEL")
BUDGET=$(budget_for "$PER_MODEL")
FITS=$(models_that_fit)
rm -f "$WORK"/cold-*.raw

{ alias_toml gen-1 gen-1 "$PARALLEL" && runtime_toml "$BUDGET"; } >"$WORK/cold.toml"
start_xervo "$WORK/cold.toml" "$WORK/cold-xervo.log"
start_llama "$WORK/cold-llama.log" --models-dir "$MODELS" --models-max "$FITS" -c $((CTX * PARALLEL)) -np "$PARALLEL"
LLAMA_PORT=$PORT

request() {  # label port raw-file: one streamed chat completion on gen-1
  "$CLIENT" --port "$2" --mode chat -c 1 --requests 1 --warmup 0 --seconds 300 --model gen-1 \
    --max-tokens "$MAX_TOKENS" ${3:+--raw "$3"} >/dev/null || { echo "$1: the request failed" >&2; exit 1; }
}
evict() {  # label
  if [ "$1" = xervo ]; then
    http POST "$XERVO_PORT" /v1/runtime/models/unload '{"model":"gen-1"}' >/dev/null
    return
  fi
  http POST "$LLAMA_PORT" /models/unload '{"model":"gen-1"}' >/dev/null
  for _ in $(seq 1 300); do
    pgrep -P "$LLAMA_PID" >/dev/null || return 0
    sleep 0.1
  done
  echo "llama-server: the instance of gen-1 did not exit after /models/unload" >&2
  exit 1
}

for label in xervo llama-server; do
  [ "$label" = xervo ] && port=$XERVO_PORT || port=$LLAMA_PORT
  request "$label" "$port" ""
  for rep in $(seq 1 "$REPS"); do
    evict "$label"
    cat "$(model_file gen-1)" >/dev/null  # the file stays in the page cache: only the load is measured
    request "$label" "$port" "$WORK/cold-$label-cold-$rep.raw"
    request "$label" "$port" "$WORK/cold-$label-warm-$rep.raw"
  done
done

pooled() { "$CLIENT" --mode chat -c 1 --summarize "$WORK"/cold-"$1"-"$2"-*.raw; }  # label cold|warm
echo "### Cold start of an evicted model (file in the page cache)"
echo
echo "$REPS repetitions per server; model $(basename "$(model_file gen-1)") ($(mib "$(stat -c %s "$(model_file gen-1)")") MiB," \
  "$SIZE generator), context $CTX x $PARALLEL slots, $THREADS threads, max_tokens $MAX_TOKENS;" \
  "xervo memory_budget $(mib "$BUDGET") MiB, llama-server --models-max $FITS."
echo
echo "| server | cold TTFT median (ms) | cold TTFT max (ms) | warm TTFT median (ms) | cold request median (ms) |"
echo "|---|---:|---:|---:|---:|"
declare -A cold
for label in xervo llama-server; do
  c=$(pooled "$label" cold)
  w=$(pooled "$label" warm)
  cold[$label]=$(summary_field "$c" ttft_p50_ms)
  printf "| %s | %.1f | %.1f | %.1f | %.1f |\n" "$label" "${cold[$label]}" "$(summary_field "$c" ttft_p99_ms)" \
    "$(summary_field "$w" ttft_p50_ms)" "$(summary_field "$c" p50_ms)"
done
echo "| xervo / llama-server | $(ratio "${cold[xervo]}" "${cold[llama-server]}") | | | |"
