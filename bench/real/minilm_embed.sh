#!/usr/bin/env bash
# all-MiniLM-L6-v2 embeddings per second: `xervo serve` /v1/embeddings against llama.cpp's
# `llama-server --embeddings` on the same GGUF, converted once from the checkpoint scripts/bootstrap
# installs (`xervo models convert ... --type f16`, what `xervo models import` of the folder makes),
# with the same client (bench/server's xervo_bench_server), the same inputs (about 25 tokens each)
# and batch sizes (inputs per request), the same threads, 16 inputs per batch and 512 tokens per
# batch on both sides. Rounds alternate which server goes first; samples of all rounds are pooled.
#   bash bench/real/minilm_embed.sh [BUILD]
#   EMBED_SECONDS=10 EMBED_ROUNDS=2 EMBED_BATCHES="1 8 32" EMBED_CONC=4 BENCH_THREADS=nproc
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
source bench/real/common.sh
need_real_model "$MINILM_CHECKPOINT"
CLIENT=$BUILD/bench/server/xervo_bench_server
need_tools "$XERVO" "$CLIENT" "$LLAMA_BIN/llama-server"
SECS=${EMBED_SECONDS:-10}
ROUNDS=${EMBED_ROUNDS:-2}
BATCHES=${EMBED_BATCHES:-1 8 32}
CONC=${EMBED_CONC:-4}
MINILM=$WORK/all-minilm-l6-v2-f16.gguf
rm -f "$WORK"/embed-*.raw
if [ ! -s "$MINILM" ] || [ "$MINILM" -ot "$XERVO" ]; then  # converted again by a newer xervo
  "$XERVO" models convert "$MINILM_CHECKPOINT" -o "$MINILM" --type f16 >"$WORK/embed-convert.log" 2>&1 ||
    { echo "bench/real: conversion failed; see $WORK/embed-convert.log" >&2; exit 1; }
fi
cat "$MINILM" >/dev/null

cat >"$WORK/embed-xervo.toml" <<TOML
[models."embed/minilm"]
task = "embed"
provider = "llamacpp"
model = "$(realpath "$MINILM")"
warmup = "eager"
options = { threads = $THREADS, context_size = 512, parallel = 16, batch_size = 512 }
[server]
threads = 64
max_queue_per_model = 256
access_log = false
TOML
start_xervo "$WORK/embed-xervo.toml" "$WORK/embed-xervo.log"
# 16 slots of the training context (512), 512-token batches: as xervo's 16 inputs per batch.
start_llama "$WORK/embed-llama.log" -m "$MINILM" --embeddings -c $((512 * 16)) -np 16 -b 512 -ub 512 --no-webui
LLAMA_PORT=$PORT

run() {  # side round batch
  local port=$XERVO_PORT model=embed/minilm
  [ "$1" = ref ] && { port=$LLAMA_PORT; model=minilm; }
  "$CLIENT" --port "$port" --mode embed -c "$CONC" --inputs "$3" --model "$model" --seconds "$SECS" \
    --warmup 2 --drain --raw "$WORK/embed-$1-b$3-$2.raw" >/dev/null ||
    echo "bench/real: $1 with $3 inputs per request, round $2: no successful request" >&2
}

echo "bench/real/minilm_embed: $(basename "$MINILM"), $THREADS threads, $CONC connections," \
  "$ROUNDS rounds of ${SECS}s per server and batch size (load: $(cut -d' ' -f1-3 /proc/loadavg))"
for round in $(seq 1 "$ROUNDS"); do
  for b in $BATCHES; do
    for side in $(order_of_round "$round"); do run "$side" "$round" "$b"; done
  done
done

echo
echo "| inputs per request | server | requests | errors | p50 ms | p99 ms | inputs/s |"
echo "|---|---|---|---|---|---|---|"
declare -A ips
for b in $BATCHES; do
  for side in xervo ref; do
    files=("$WORK"/embed-$side-b$b-*.raw)
    ips[$side$b]=-
    [ -e "${files[0]}" ] || continue
    j=$("$CLIENT" --mode embed -c "$CONC" --inputs "$b" --summarize "${files[@]}" || true)
    ips[$side$b]=$(json_field inputs_per_s <<<"$j")
    label=xervo
    [ "$side" = ref ] && label=llama-server
    echo "| $b | $label | $(json_field requests <<<"$j") | $(json_field errors <<<"$j") |" \
      "$(fmt "$(json_field p50_ms <<<"$j")") | $(fmt "$(json_field p99_ms <<<"$j")") | $(fmt "${ips[$side$b]}") |"
  done
done
echo
echo "| inputs per request | embeddings/s xervo / llama-server |"
echo "|---|---|"
for b in $BATCHES; do echo "| $b | $(ratio "${ips[xervo$b]}" "${ips[ref$b]}") |"; done
