#!/usr/bin/env bash
# Interactive chat while a batch runs: BI_CONNECTIONS clients stream chat completions from the alias
# "chat" for BI_SECONDS with no batch, then for BI_SECONDS again while a BI_LINES-line batch
# (POST /v1/files + /v1/batches, the same alias, BI_BATCH_MAX_TOKENS per line) runs on the same
# server with [server] batch_concurrency = BI_CONCURRENCY. Goal: interactive p99 close to the
# no-batch phase's. The table also says how many batch lines were answered during the batch phase.
#   bash bench/cache/batch_interference.sh [BUILD]
#   BI_SECONDS=30 BI_CONNECTIONS=4 BI_LINES=1000 BI_CONCURRENCY=1 BI_WARMUP=3 LIFECYCLE_MAX_TOKENS=16
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SECS=${BI_SECONDS:-30}
CONN=${BI_CONNECTIONS:-4}
LINES=${BI_LINES:-1000}
CONCURRENCY=${BI_CONCURRENCY:-1}
WARMUP=${BI_WARMUP:-3}
BATCH_TOKENS=${BI_BATCH_MAX_TOKENS:-16}
source bench/lifecycle/common.sh
make_models 1
rm -rf "$WORK"/batch-bench-* "$WORK/batches"
{
  alias_toml chat gen-1 "$((CONN + CONCURRENCY))" eager
  runtime_toml
  echo "batch_dir = \"$(realpath "$WORK")/batches\""
  echo "batch_concurrency = $CONCURRENCY"
} >"$WORK/batch-bench.toml"
start_xervo "$WORK/batch-bench.toml" "$WORK/batch-bench-xervo.log"

load() {  # seconds raw-file
  "$CLIENT" --port "$XERVO_PORT" --mode chat -c "$CONN" --model chat --seconds "$1" --warmup "$WARMUP" --drain \
    --max-tokens "$MAX_TOKENS" --raw "$2" >/dev/null || echo "batch bench: a load phase had no successful request" >&2
}
done_lines() {  # batch: request_counts completed + failed
  http GET "$XERVO_PORT" "/v1/batches/$1" | awk '{ n = 0
    if (match($0, /"completed":[0-9]+/)) n += substr($0, RSTART + 12, RLENGTH - 12)
    if (match($0, /"failed":[0-9]+/)) n += substr($0, RSTART + 9, RLENGTH - 9)
    print n }'
}

load "$SECS" "$WORK/batch-bench-alone.raw"

for i in $(seq 1 "$LINES"); do
  printf '{"custom_id":"b%d","method":"POST","url":"/v1/chat/completions","body":{"model":"chat","max_tokens":%d,"messages":[{"role":"user","content":"batch line %d"}]}}\n' \
    "$i" "$BATCH_TOKENS" "$i"
done >"$WORK/batch-bench-input.jsonl"
file=$(curl -sS "http://127.0.0.1:$XERVO_PORT/v1/files" -F purpose=batch -F "file=@$WORK/batch-bench-input.jsonl" |
  json_string id)
batch=$(http POST "$XERVO_PORT" /v1/batches "{\"input_file_id\":\"$file\",\"endpoint\":\"/v1/chat/completions\"}" |
  json_string id)
before=$(done_lines "$batch")
load "$SECS" "$WORK/batch-bench-during.raw"
after=$(done_lines "$batch")
status=$(http GET "$XERVO_PORT" "/v1/batches/$batch" | json_string status)
http POST "$XERVO_PORT" "/v1/batches/$batch/cancel" '{}' >/dev/null 2>&1 || true

pooled() { "$CLIENT" --mode chat -c "$CONN" --summarize "$@" || true; }
alone=$(pooled "$WORK/batch-bench-alone.raw")
during=$(pooled "$WORK/batch-bench-during.raw")

echo "### Interactive chat while a batch runs"
echo
echo "$CONN connections streaming chat from one alias (max_tokens $MAX_TOKENS, $SIZE generator, $THREADS threads):" \
  "${SECS}s alone, then ${SECS}s while a $LINES-line batch (max_tokens $BATCH_TOKENS per line," \
  "batch_concurrency $CONCURRENCY) runs on the same alias (each phase after ${WARMUP}s unmeasured)."
echo
echo "| phase | requests | failed | p50 (ms) | p99 (ms) | TTFT p50 (ms) | TTFT p99 (ms) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
row() { printf "| %s | %s | %s | %.0f | %.0f | %.0f | %.0f |\n" "$1" "$(summary_field "$2" requests)" \
  "$(summary_field "$2" errors)" "$(summary_field "$2" p50_ms)" "$(summary_field "$2" p99_ms)" \
  "$(summary_field "$2" ttft_p50_ms)" "$(summary_field "$2" ttft_p99_ms)"; }
row "no batch" "$alone"
row "batch running" "$during"
r() { ratio "$(summary_field "$during" "$1")" "$(summary_field "$alone" "$1")"; }
echo "| batch running / no batch | | | $(r p50_ms) | $(r p99_ms) | $(r ttft_p50_ms) | $(r ttft_p99_ms) |"
echo
echo "Batch lines answered during the batch phase: $((after - before)) (batch $status at its end; cancelled after)."
