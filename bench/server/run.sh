#!/usr/bin/env bash
# Load test: `xervo serve` against llama.cpp's `llama-server` on the same generated models, the same
# threads and the same concurrency (embeddings: 16 connections, small BERT embedder; streamed chat:
# 4 connections, small llama generator).
#   bash bench/server/run.sh [BUILD]
#   BENCH_SECONDS=15 BENCH_ROUNDS=4 BENCH_THREADS=nproc BENCH_MAX_TOKENS=64 BENCH_PARTS="embed chat"
# All three servers start first and stay up; each round then runs every test against xervo and
# llama-server back to back, the order swapping every round, so that both meet the same drift in
# the machine's speed. Prints one row a run, then the rounds pooled and xervo / llama-server ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SECS=${BENCH_SECONDS:-15}
ROUNDS=${BENCH_ROUNDS:-4}
THREADS=${BENCH_THREADS:-$(nproc)}
MAX_TOKENS=${BENCH_MAX_TOKENS:-64}
PARTS=${BENCH_PARTS:-embed chat}
DEPS=${XERVO_DEPS_DIR:-$HOME/.cache/xervo/deps}
LLAMA_BIN=$DEPS/llama.cpp/build/bin
XERVO=$BUILD/src/cli/xervo
GEN=$BUILD/tools/testmodel/xervo-testmodel
CLIENT=$BUILD/bench/server/xervo_bench_server
for f in "$XERVO" "$GEN" "$CLIENT" "$LLAMA_BIN/llama-server"; do
  [ -x "$f" ] || { echo "bench/server: missing $f (build first: make build)" >&2; exit 1; }
done

WORK=$BUILD/bench-server
mkdir -p "$WORK"
rm -f "$WORK"/*.raw
EMBED=$WORK/embedder-small.gguf
CHAT=$WORK/generator-small.gguf
[ -f "$EMBED" ] || "$GEN" --kind embedder --size small --pooling mean -o "$EMBED"
[ -f "$CHAT" ] || "$GEN" --kind generator --size small -o "$CHAT"

source bench/server/common.sh
trap stop_servers EXIT
# xervo serve: both models in one server, as a user would run it.
cat > "$WORK/xervo.toml" <<TOML
[models."embed/bench"]
task = "embed"
provider = "llamacpp"
model = "$(realpath "$EMBED")"
warmup = "eager"
options = { threads = $THREADS, context_size = 512, parallel = 16 }
[models."chat/bench"]
task = "generate"
provider = "llamacpp"
model = "$(realpath "$CHAT")"
warmup = "eager"
options = { threads = $THREADS, context_size = 512, parallel = 4 }
[server]
threads = 64
max_queue_per_model = 256
TOML
start_xervo "$WORK/xervo.toml" "$WORK/xervo.log"

# llama-server: one process per model (it serves one model), same context per slot and threads.
start_llama "$WORK/llama-embed.log" -m "$EMBED" --embeddings --pooling mean -c $((512 * 16)) -np 16
LLAMA_EMBED_PORT=$PORT
start_llama "$WORK/llama-chat.log" -m "$CHAT" -c $((512 * 4)) -np 4
LLAMA_CHAT_PORT=$PORT

conc() { [ "$1" = embed ] && echo 16 || echo 4; }
client() {  # label test [extra client args...]
  local label=$1 test=$2 port model
  shift 2
  if [ "$label" = xervo ]; then
    port=$XERVO_PORT
    model=$test/bench
  else
    [ "$test" = embed ] && port=$LLAMA_EMBED_PORT || port=$LLAMA_CHAT_PORT
    model=$test
  fi
  "$CLIENT" --row --label "$label" --port "$port" --mode "$test" -c "$(conc "$test")" --model "$model" \
    --seconds "$SECS" --max-tokens "$MAX_TOKENS" "$@" || echo "$label $test: no successful request"
}

echo "bench/server: $ROUNDS rounds of ${SECS}s per server and test, $THREADS threads," \
  "embeddings 16 connections, chat 4 connections (max_tokens $MAX_TOKENS)"
HEADER=$(printf "%-13s %-6s %5s %8s %9s %9s %9s %11s %10s %7s" server test conc requests req/s p50_ms p99_ms \
  ttft_p50_ms tokens/s errors)
echo "$HEADER"
for round in $(seq 1 "$ROUNDS"); do
  order="xervo llama-server"
  [ $((round % 2)) -eq 0 ] && order="llama-server xervo"
  for test in $PARTS; do
    for label in $order; do client "$label" "$test" --raw "$WORK/$label-$test-$round.raw"; done
  done
done

echo
echo "pooled over $ROUNDS rounds ($((ROUNDS * SECS)) s per server and test):"
echo "$HEADER"
for test in $PARTS; do
  declare -A rps p99
  for label in xervo llama-server; do
    row=$("$CLIENT" --row --label "$label" --mode "$test" -c "$(conc "$test")" --summarize "$WORK/$label-$test-"*.raw)
    echo "$row"
    rps[$label]=$(awk '{print $5}' <<<"$row")
    p99[$label]=$(awk '{print $7}' <<<"$row")
  done
  awk -v t="$test" -v xr="${rps[xervo]}" -v lr="${rps[llama-server]}" -v xp="${p99[xervo]}" -v lp="${p99[llama-server]}" \
    'BEGIN { printf "  %s: throughput xervo/llama-server %.3f (target >= 1), p99 xervo/llama-server %.3f (target <= 1)\n", t, xr / lr, xp / lp }'
done
