#!/usr/bin/env bash
# Load test: `xervo serve` against llama.cpp's `llama-server` on the same generated models, the same
# threads and the same concurrency (embeddings: 16 connections, small BERT embedder; streamed chat:
# 4 connections, small llama generator). Prints throughput and p50/p99 latency as a table.
#   bash bench/server/run.sh [BUILD]     (BENCH_SECONDS=20, BENCH_THREADS=nproc, BENCH_MAX_TOKENS=64)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SECS=${BENCH_SECONDS:-20}
THREADS=${BENCH_THREADS:-$(nproc)}
MAX_TOKENS=${BENCH_MAX_TOKENS:-64}
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
EMBED=$WORK/embedder-small.gguf
CHAT=$WORK/generator-small.gguf
[ -f "$EMBED" ] || "$GEN" --kind embedder --size small --pooling mean -o "$EMBED"
[ -f "$CHAT" ] || "$GEN" --kind generator --size small -o "$CHAT"

free_port() {
  local p
  local start=$((20000 + RANDOM % 20000))
  for p in $(seq $start $((start + 100))); do
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
  done
  echo "no free port" >&2; exit 1
}
PID=
stop_server() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; fi
}
trap stop_server EXIT
healthy() {  # port: GET /health answers 200
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    read -r line <&3
    [[ "$line" == *" 200 "* ]]
  ) 2>/dev/null
}
wait_up() {  # port
  for _ in $(seq 1 600); do
    healthy "$1" && return 0
    kill -0 "$PID" 2>/dev/null || { echo "server exited; see $WORK/*.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "server did not come up" >&2; exit 1
}
run_client() {  # label port mode concurrency model
  "$CLIENT" --row --label "$1" --port "$2" --mode "$3" -c "$4" --model "$5" --seconds "$SECS" \
    --max-tokens "$MAX_TOKENS" || echo "$1 $3: no successful request"
}

echo "bench/server: ${SECS}s per run, $THREADS threads, embeddings 16 connections, chat 4 connections (max_tokens $MAX_TOKENS)"
printf "%-13s %-6s %5s %9s %9s %9s %11s %10s %7s\n" server test conc req/s p50_ms p99_ms ttft_p50_ms tokens/s errors

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
"$XERVO" --config "$WORK/xervo.toml" serve --port 0 >"$WORK/xervo.log" 2>&1 &
PID=$!
PORT=
for _ in $(seq 1 600); do
  PORT=$(sed -n 's|^xervo serve: listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$WORK/xervo.log")
  [ -n "$PORT" ] && break
  kill -0 "$PID" 2>/dev/null || { echo "xervo serve exited; see $WORK/xervo.log" >&2; exit 1; }
  sleep 0.2
done
wait_up "$PORT"
run_client "xervo" "$PORT" embed 16 embed/bench
run_client "xervo" "$PORT" chat 4 chat/bench
stop_server

# llama-server: one process per model (it serves one model), same context per slot and threads.
PORT=$(free_port)
"$LLAMA_BIN/llama-server" -m "$EMBED" --embeddings --pooling mean -c $((512 * 16)) -np 16 --threads-http 64 \
  -t "$THREADS" -tb "$THREADS" --port "$PORT" >"$WORK/llama-embed.log" 2>&1 &
PID=$!
wait_up "$PORT"
run_client "llama-server" "$PORT" embed 16 embed
stop_server

PORT=$(free_port)
"$LLAMA_BIN/llama-server" -m "$CHAT" -c $((512 * 4)) -np 4 --threads-http 64 -t "$THREADS" -tb "$THREADS" --port "$PORT" \
  >"$WORK/llama-chat.log" 2>&1 &
PID=$!
wait_up "$PORT"
run_client "llama-server" "$PORT" chat 4 chat
stop_server
