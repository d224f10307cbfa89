#!/usr/bin/env bash
# Streamed chat on Gemma 3 270M (Q4_K_M, from scripts/bootstrap): `xervo serve` against llama.cpp's
# `llama-server` on the same file, threads, slots and context per slot, with the same client
# (bench/server's xervo_bench_server, streamed /v1/chat/completions), greedy (temperature 0), the
# same max_tokens. The file has no chat template: xervo renders ChatML for it, and llama-server is
# given `--chat-template chatml`, so both decode the same prompt tokens. Each round runs every
# concurrency against both servers back to back, the order swapping every round; the samples of
# all rounds are pooled.
#   bash bench/real/serve_stream.sh [BUILD]
#   STREAM_SECONDS=10 STREAM_ROUNDS=2 STREAM_CONC="1 4" STREAM_MAX_TOKENS=64 STREAM_SLOTS=4
#   STREAM_CONTEXT=1024 (per slot) BENCH_THREADS=nproc
# Columns: time to first token (p50 over requests), per-stream decode speed (median over requests
# of (completion tokens - 1) / (last byte - first token)), aggregate generated tokens per second
# over the measured window, requests and failures.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
source bench/real/common.sh
need_real_model "$GEMMA"
CLIENT=$BUILD/bench/server/xervo_bench_server
need_tools "$XERVO" "$CLIENT" "$LLAMA_BIN/llama-server"
SECS=${STREAM_SECONDS:-10}
ROUNDS=${STREAM_ROUNDS:-2}
CONCS=${STREAM_CONC:-1 4}
MAX_TOKENS=${STREAM_MAX_TOKENS:-64}
SLOTS=${STREAM_SLOTS:-4}
CTX=${STREAM_CONTEXT:-1024}
rm -f "$WORK"/stream-*.raw
cat "$GEMMA" >/dev/null

cat >"$WORK/stream-xervo.toml" <<TOML
[models."chat/gemma"]
task = "generate"
provider = "llamacpp"
model = "$(realpath "$GEMMA")"
warmup = "eager"
options = { threads = $THREADS, context_size = $CTX, parallel = $SLOTS }
[server]
threads = 64
max_queue_per_model = 256
access_log = false
TOML
start_xervo "$WORK/stream-xervo.toml" "$WORK/stream-xervo.log"
start_llama "$WORK/stream-llama.log" -m "$GEMMA" -c $((CTX * SLOTS)) -np "$SLOTS" --chat-template chatml --no-webui
LLAMA_PORT=$PORT

run() {  # side round concurrency
  local port=$XERVO_PORT model=chat/gemma
  [ "$1" = ref ] && { port=$LLAMA_PORT; model=gemma; }
  "$CLIENT" --port "$port" --mode chat -c "$3" --model "$model" --seconds "$SECS" --warmup 2 --drain \
    --max-tokens "$MAX_TOKENS" --temperature 0 --raw "$WORK/stream-$1-c$3-$2.raw" >/dev/null ||
    echo "bench/real: $1 at concurrency $3, round $2: no successful request (XERVO_BENCH_DEBUG=1 says why)" >&2
}
per_stream_tps() {  # raw files...: median over requests of (tokens - 1) / decode seconds
  awk 'FNR > 1 && $3 > 1 && $1 > $2 { print ($3 - 1) / (($1 - $2) / 1000) }' "$@" | median
}

echo "bench/real/serve_stream: $(basename "$GEMMA"), $THREADS threads, $SLOTS slots x $CTX context," \
  "greedy, max_tokens $MAX_TOKENS, $ROUNDS rounds of ${SECS}s per server and concurrency" \
  "(load: $(cut -d' ' -f1-3 /proc/loadavg))"
for round in $(seq 1 "$ROUNDS"); do
  for c in $CONCS; do
    for side in $(order_of_round "$round"); do run "$side" "$round" "$c"; done
  done
done

echo
echo "| concurrency | server | requests | errors | TTFT p50 ms | per-stream tokens/s | aggregate tokens/s |"
echo "|---|---|---|---|---|---|---|"
declare -A ttft stream agg
for c in $CONCS; do
  for side in xervo ref; do
    files=("$WORK"/stream-$side-c$c-*.raw)
    [ -e "${files[0]}" ] || { ttft[$side$c]=-; stream[$side$c]=-; agg[$side$c]=-; continue; }
    j=$("$CLIENT" --mode chat -c "$c" --summarize "${files[@]}" || true)
    ttft[$side$c]=$(json_field ttft_p50_ms <<<"$j")
    agg[$side$c]=$(json_field tokens_per_s <<<"$j")
    stream[$side$c]=$(per_stream_tps "${files[@]}")
    label=xervo
    [ "$side" = ref ] && label=llama-server
    echo "| $c | $label | $(json_field requests <<<"$j") | $(json_field errors <<<"$j") |" \
      "$(fmt "${ttft[$side$c]}") | $(fmt "${stream[$side$c]}") | $(fmt "${agg[$side$c]}") |"
  done
done
echo
echo "| concurrency | TTFT xervo / llama-server (lower is better) | per-stream xervo / llama-server | aggregate xervo / llama-server |"
echo "|---|---|---|---|"
for c in $CONCS; do
  echo "| $c | $(ratio "${ttft[xervo$c]}" "${ttft[ref$c]}") | $(ratio "${stream[xervo$c]}" "${stream[ref$c]}") |" \
    "$(ratio "${agg[xervo$c]}" "${agg[ref$c]}") |"
done
