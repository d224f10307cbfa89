#!/usr/bin/env bash
# ONNX Runtime against llama.cpp on the same embedder, in one run: all-MiniLM-L6-v2 as the int8 ONNX
# graph (the onnx provider) and as GGUFs converted from its checkpoint by `xervo models convert`
# (f32 and q8_0, the llamacpp provider), served by one `xervo serve` under three aliases, driven by
# the same load client (bench/server's xervo_bench_server: POST /v1/embeddings, the same texts, the
# same concurrency and inputs per request). Prints a markdown table: embeddings per second, p50 /
# p99 latency, and the ratio of each engine to llama.cpp f32. Rounds alternate the order of the
# engines and their samples are pooled, so a machine that slows down mid-run penalizes none.
#
#   bash bench/real/onnx_vs_llamacpp.sh [BUILD]
# Knobs: ONNX_BENCH_SECONDS=15 (per engine per round), ONNX_BENCH_ROUNDS=2, ONNX_BENCH_CONCURRENCY=4,
# ONNX_BENCH_INPUTS=8 (inputs per request), BENCH_THREADS (default: all cores, for both engines).
# Needs the real models and ONNX Runtime from scripts/bootstrap (docs/real-models.md).
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.."
source bench/server/common.sh
CLIENT=$BUILD/bench/server/xervo_bench_server
need_binaries "$CLIENT"
DEPS=${XERVO_DEPS_DIR:-$HOME/.cache/xervo/deps}
ONNX_DIR=$DEPS/models/all-MiniLM-L6-v2-onnx
CKPT=$DEPS/models/all-MiniLM-L6-v2
for f in "$ONNX_DIR/model.onnx" "$CKPT/model.safetensors" "$DEPS/onnxruntime-1.20.1/lib/libonnxruntime.so.1.20.1"; do
  [ -f "$f" ] || { echo "bench/real: missing $f (scripts/bootstrap installs it when the package index is reachable)" >&2; exit 1; }
done
THREADS=${BENCH_THREADS:-$(nproc)}
SECONDS_PER=${ONNX_BENCH_SECONDS:-15}
ROUNDS=${ONNX_BENCH_ROUNDS:-2}
CONC=${ONNX_BENCH_CONCURRENCY:-4}
INPUTS=${ONNX_BENCH_INPUTS:-8}
WORK=$BUILD/bench-real
mkdir -p "$WORK"
trap stop_servers EXIT

for type in f32 q8_0; do
  [ -f "$WORK/minilm-$type.gguf" ] || "$XERVO" models convert "$CKPT" -o "$WORK/minilm-$type.gguf" --type "$type" >&2
done
cat "$ONNX_DIR/model.onnx" "$WORK"/minilm-*.gguf >/dev/null  # page cache, for every engine alike

# The same batching limits for both engines: up to 16 inputs in one run / one llama_decode.
cat >"$WORK/onnx.toml" <<TOML
[models."embed/onnx"]
task = "embed"
provider = "onnx"
model = "$(realpath "$ONNX_DIR")"
warmup = "eager"
options = { threads = $THREADS, batch_size = 16 }
[models."embed/llama-f32"]
task = "embed"
provider = "llamacpp"
model = "$(realpath "$WORK/minilm-f32.gguf")"
warmup = "eager"
options = { threads = $THREADS, parallel = 16, context_size = 512 }
[models."embed/llama-q8_0"]
task = "embed"
provider = "llamacpp"
model = "$(realpath "$WORK/minilm-q8_0.gguf")"
warmup = "eager"
options = { threads = $THREADS, parallel = 16, context_size = 512 }
[server]
threads = 32
access_log = false
TOML
start_xervo "$WORK/onnx.toml" "$WORK/onnx-serve.log"

ENGINES=(embed/onnx embed/llama-f32 embed/llama-q8_0)
rm -f "$WORK"/onnx-raw-*.jsonl
for round in $(seq 1 "$ROUNDS"); do
  order=("${ENGINES[@]}")
  [ $((round % 2)) -eq 0 ] && order=(embed/llama-q8_0 embed/llama-f32 embed/onnx)
  for alias in "${order[@]}"; do
    "$CLIENT" --port "$XERVO_PORT" --mode embed --model "$alias" -c "$CONC" --inputs "$INPUTS" \
      --seconds "$SECONDS_PER" --warmup 2 --drain --raw "$WORK/onnx-raw-${alias#embed/}-$round.jsonl" >/dev/null
  done
done
stop_servers

summary() { "$CLIENT" --mode embed --inputs "$INPUTS" --summarize "$WORK"/onnx-raw-"$1"-*.jsonl; }
num() { sed -n "s/.*\"$1\":\(-\{0,1\}[0-9][0-9.e+-]*\).*/\1/p" | head -1; }
declare -A RATE P50 P99 ERR
for e in onnx llama-f32 llama-q8_0; do
  s=$(summary "$e")
  RATE[$e]=$(num inputs_per_s <<<"$s"); P50[$e]=$(num p50_ms <<<"$s"); P99[$e]=$(num p99_ms <<<"$s")
  ERR[$e]=$(num errors <<<"$s")
done
echo
echo "all-MiniLM-L6-v2, $CONC connections x $INPUTS inputs per request, $THREADS threads, $ROUNDS rounds x ${SECONDS_PER}s per engine"
echo
echo "| engine | weights | embeddings/s | p50 ms | p99 ms | errors | vs llama.cpp f32 |"
echo "|---|---|---:|---:|---:|---:|---:|"
row() {  # key label weights
  printf '| %s | %s | %.1f | %.1f | %.1f | %s | %.2fx |\n' "$2" "$3" "${RATE[$1]}" "${P50[$1]}" "${P99[$1]}" \
    "${ERR[$1]}" "$(awk -v a="${RATE[$1]}" -v b="${RATE[llama-f32]}" 'BEGIN { print a / b }')"
}
row onnx "ONNX Runtime 1.20.1 (onnx provider)" "int8 ONNX (22.9 MB)"
row llama-f32 "llama.cpp (llamacpp provider)" "f32 GGUF ($(($(stat -c %s "$WORK/minilm-f32.gguf") / 1000000)) MB)"
row llama-q8_0 "llama.cpp (llamacpp provider)" "q8_0 GGUF ($(($(stat -c %s "$WORK/minilm-q8_0.gguf") / 1000000)) MB)"
