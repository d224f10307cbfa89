#!/usr/bin/env bash
# What a public endpoint meets: `xervo serve` against llama.cpp's `llama-server` on the same small
# embedder, same threads, same client.
#   1. slowloris: 200 connections send their headers one byte a second while a probe asks for an
#      embedding on a fresh connection every 100 ms (target for xervo: every probe answered, p99
#      and max under 1 s).
#   2. idle: 10,000 keep-alive connections (50 source addresses of 127.0.0.0/8, 200 each, under
#      the default per-address cap) make one request each and stay open; the server's RSS before
#      and after, and the probe while they are held (target: bounded memory, probes answered).
#   bash bench/server/hostile.sh [BUILD]      HOSTILE_SECONDS=20 HOSTILE_IDLE=10000 HOSTILE_SLOW=200
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SECS=${HOSTILE_SECONDS:-20}
IDLE=${HOSTILE_IDLE:-10000}
SLOW=${HOSTILE_SLOW:-200}
THREADS=${BENCH_THREADS:-$(nproc)}
DEPS=${XERVO_DEPS_DIR:-$HOME/.cache/xervo/deps}
LLAMA_BIN=$DEPS/llama.cpp/build/bin
XERVO=$BUILD/src/cli/xervo
GEN=$BUILD/tools/testmodel/xervo-testmodel
CLIENT=$BUILD/bench/server/xervo_bench_hostile
for f in "$XERVO" "$GEN" "$CLIENT" "$LLAMA_BIN/llama-server"; do
  [ -x "$f" ] || { echo "bench/server: missing $f (build first: make build)" >&2; exit 1; }
done
# Both sides of 10,000 connections live in this machine: client and server each need the descriptors.
ulimit -n "$(ulimit -Hn)"

WORK=$BUILD/bench-hostile
mkdir -p "$WORK"
EMBED=$WORK/embedder-small.gguf
[ -f "$EMBED" ] || "$GEN" --kind embedder --size small --pooling mean -o "$EMBED"

source bench/server/common.sh
trap stop_servers EXIT
cat > "$WORK/xervo.toml" <<TOML
[models."embed/bench"]
task = "embed"
provider = "llamacpp"
model = "$(realpath "$EMBED")"
warmup = "eager"
options = { threads = $THREADS, context_size = 512, parallel = 16 }
[server]
keep_alive_timeout_s = 300   # the idle test holds its connections longer than the default 5 s
access_log = false
TOML
start_xervo "$WORK/xervo.toml" "$WORK/xervo.log"
start_llama "$WORK/llama-embed.log" -m "$EMBED" --embeddings --pooling mean -c $((512 * 16)) -np 16
LLAMA_PORT=$PORT

echo "bench/server/hostile: $SLOW slowloris connections, then $IDLE idle keep-alive connections;" \
  "probe: one embedding request on a fresh connection every 100 ms for ${SECS}s"
for label in xervo llama-server; do
  if [ "$label" = xervo ]; then port=$XERVO_PORT model=embed/bench pid=$XERVO_PID; else port=$LLAMA_PORT model=embed pid=$LLAMA_PID; fi
  "$CLIENT" --mode slowloris --label "$label" --port "$port" --model "$model" -c "$SLOW" --seconds "$SECS"
done
for label in xervo llama-server; do
  if [ "$label" = xervo ]; then port=$XERVO_PORT model=embed/bench pid=$XERVO_PID; else port=$LLAMA_PORT model=embed pid=$LLAMA_PID; fi
  "$CLIENT" --mode idle --label "$label" --port "$port" --model "$model" -c "$IDLE" --pid "$pid" --seconds "$SECS"
done
