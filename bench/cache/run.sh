#!/usr/bin/env bash
# The response cache benchmarks (docs/cache.md), each a markdown table of ratios from one run:
#   1. exact hit through HTTP: p50 and p99 of a repeated one-input /v1/embeddings request with the
#      cache on, against the same requests sent with Cache-Control: no-cache (computed each time);
#   2. re-indexing: a corpus of CHUNKS chunks embedded, then the same corpus with 10% of its chunks
#      edited: the second pass through xervo (cache on) against llama-server doing the same second
#      pass (it has no cache, so it computes every chunk again), same model file, same client.
# The model is all-MiniLM-L6-v2 converted from the checkpoint bootstrap installs, else a generated
# BERT embedder of the same shape (the table says which).
#   bash bench/cache/run.sh [BUILD]      (CHUNKS=10000 THREADS=2 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
THREADS=${THREADS:-2}
CHUNKS=${CHUNKS:-10000}
source bench/server/common.sh
need_binaries "$BUILD/bench/cache/xervo_bench_cache"
CLIENT=$BUILD/bench/cache/xervo_bench_cache
WORK=$BUILD/bench-cache
mkdir -p "$WORK"
trap stop_servers EXIT

CHECKPOINT=${XERVO_DEPS_DIR:-$HOME/.cache/xervo/deps}/models/all-MiniLM-L6-v2
MODEL=$WORK/minilm-f16.gguf
if [ -f "$CHECKPOINT/config.json" ]; then
  NAME="all-MiniLM-L6-v2 (f16, converted)"
  [ -f "$MODEL" ] || "$XERVO" models convert "$CHECKPOINT" -o "$MODEL" --type f16 >/dev/null
else
  NAME="generated BERT embedder (small)"
  MODEL=$WORK/embed-small.gguf
  [ -f "$MODEL" ] || "$GEN" --kind embedder --size small --pooling mean -o "$MODEL" >/dev/null
fi

export XERVO_HOME=$WORK/home
rm -rf "$XERVO_HOME"
cat >"$WORK/xervo.toml" <<TOML
[models."default"]
task = "embed"
model = "$MODEL"
warmup = "eager"
options = { threads = $THREADS, context_size = 512, batch_size = 4096 }

[cache]
enabled = true
memory = "512MiB"
disk = "1GiB"
TOML
start_xervo "$WORK/xervo.toml" "$WORK/xervo.log"
field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p"; }

# --- 1. exact hit ---------------------------------------------------------------------------------
hit=$("$CLIENT" latency --port "$XERVO_PORT" --requests 2000 --distinct 16)
miss=$("$CLIENT" latency --port "$XERVO_PORT" --requests 300 --distinct 16 --no-cache)
hp50=$(echo "$hit" | field p50_ms); hp99=$(echo "$hit" | field p99_ms)
mp50=$(echo "$miss" | field p50_ms); mp99=$(echo "$miss" | field p99_ms)
echo "### Exact hit through HTTP ($NAME, one input, sequential, $THREADS threads)"
echo
echo "| request | p50 ms | p99 ms |"
echo "|---|---:|---:|"
printf '| cached (hit) | %.3f | %.3f |\n' "$hp50" "$hp99"
printf '| same request, Cache-Control: no-cache (computed) | %.3f | %.3f |\n' "$mp50" "$mp99"
awk -v a="$mp50" -v b="$hp50" -v c="$mp99" -v d="$hp99" \
  'BEGIN { printf "| **computed / hit** | **%.1fx** | **%.1fx** |\n", a / b, c / d }'
echo

# --- 2. re-indexing -------------------------------------------------------------------------------
x1=$("$CLIENT" reindex --port "$XERVO_PORT" --chunks "$CHUNKS" --pass 1 | field seconds)
x2=$("$CLIENT" reindex --port "$XERVO_PORT" --chunks "$CHUNKS" --pass 2 | field seconds)
stop_servers
start_llama "$WORK/llama.log" -m "$MODEL" --embeddings --pooling mean -c 4096 -b 4096 -ub 4096 -np 1
l1=$("$CLIENT" reindex --port "$PORT" --chunks "$CHUNKS" --pass 1 | field seconds)
l2=$("$CLIENT" reindex --port "$PORT" --chunks "$CHUNKS" --pass 2 | field seconds)
stop_servers
echo "### Re-indexing $CHUNKS chunks, then the same corpus with 10% of them edited ($NAME, batches of 32)"
echo
echo "| server | pass 1 s | pass 2 s |"
echo "|---|---:|---:|"
printf '| xervo serve, cache on | %.2f | %.2f |\n' "$x1" "$x2"
printf '| llama-server --embeddings | %.2f | %.2f |\n' "$l1" "$l2"
awk -v a="$l2" -v b="$x2" 'BEGIN { printf "| **llama-server pass 2 / xervo pass 2** | | **%.1fx** |\n", a / b }'
