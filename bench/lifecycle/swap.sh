#!/usr/bin/env bash
# Swap under load: SWAP_CONNECTIONS clients stream chat completions from the alias "chat" for
# SWAP_SECONDS while the alias is swapped SWAP_COUNT times between two generated models (POST
# /v1/runtime/models/swap with an admin key; the clients use an inference key). The budget holds
# LIFECYCLE_FIT models' worth, so each new model loads beside the old one. There is no llama-server
# equivalent of a swap: the reference is xervo's own steady state in the same run, measured twice: a
# phase of SWAP_STEADY_SECONDS with the same load and no swap first, and, in the swap phase, the
# requests that overlapped no swap (each request's start and end lined up with each swap's). Goal: no
# failed request, p99 of the requests that overlapped a swap near the steady state's.
#   bash bench/lifecycle/swap.sh [BUILD]
#   SWAP_SECONDS=60 SWAP_COUNT=10 SWAP_CONNECTIONS=16 SWAP_STEADY_SECONDS=20 SWAP_WARMUP=5
#   LIFECYCLE_MAX_TOKENS=16
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SECS=${SWAP_SECONDS:-60}
SWAPS=${SWAP_COUNT:-10}
CONN=${SWAP_CONNECTIONS:-16}
STEADY=${SWAP_STEADY_SECONDS:-20}
WARMUP=${SWAP_WARMUP:-5}
source bench/lifecycle/common.sh
make_models 2
PER_MODEL=$(charged_bytes "$CONN")  # one slot per connection
BUDGET=$(budget_for "$PER_MODEL")
rm -f "$WORK"/swap-*

new_key() { "$XERVO" serve hash-key --generate | sed -n 's/^key: *//p; s/^sha256 = "\(.*\)"$/\1/p' | paste -sd' '; }
read -r APP_KEY APP_SHA < <(new_key)
read -r ADMIN_KEY ADMIN_SHA < <(new_key)
{
  alias_toml chat gen-1 "$CONN" eager
  runtime_toml "$BUDGET"
  echo "admin_allow_model_ids = { paths = [\"$(realpath "$MODELS")\"] }  # what a swap may point at"
  cat <<TOML
[server.auth]
keys = [
  { name = "bench", sha256 = "$APP_SHA", scopes = ["inference"] },
  { name = "ops", sha256 = "$ADMIN_SHA", scopes = ["admin"] },
]
TOML
} >"$WORK/swap.toml"
start_xervo "$WORK/swap.toml" "$WORK/swap-xervo.log"

load() {  # seconds raw-file
  "$CLIENT" --port "$XERVO_PORT" --mode chat -c "$CONN" --model chat --seconds "$1" --warmup "$WARMUP" --drain \
    --max-tokens "$MAX_TOKENS" --api-key "$APP_KEY" --raw "$2" >/dev/null || echo "swap: a load phase had no successful request" >&2
}
load "$STEADY" "$WORK/swap-steady.raw"
load "$SECS" "$WORK/swap-samples.raw" &
CLIENT_PID=$!

# The swaps, evenly spread over the measured time; each one's wall-clock start and end (ms) is a window.
now_ms() { date +%s%3N; }
begin=$(now_ms)
swapped=0
for i in $(seq 1 "$SWAPS"); do
  due=$((begin + WARMUP * 1000 + i * SECS * 1000 / (SWAPS + 1)))
  wait_ms=$((due - $(now_ms)))
  [ "$wait_ms" -le 0 ] || sleep "$(awk -v ms="$wait_ms" 'BEGIN { print ms / 1000 }')"
  [ $((i % 2)) -eq 1 ] && to=gen-2 || to=gen-1
  start=$(now_ms)
  if out=$(http POST "$XERVO_PORT" /v1/runtime/models/swap "{\"alias\":\"chat\",\"model\":\"$(model_file "$to")\"}"); then
    echo "$out" >>"$WORK/swap-responses.jsonl"
    [[ "$(json_string to <<<"$out")" == *"/$to.gguf"* ]] && swapped=$((swapped + 1))
  fi
  echo "$start $(now_ms)" >>"$WORK/swap-windows.txt"
done
wait "$CLIENT_PID"

pooled() { "$CLIENT" --mode chat -c "$CONN" --summarize "$@" || true; }
steady=$(pooled "$WORK/swap-steady.raw")
all=$(pooled "$WORK/swap-samples.raw")
between=$(pooled "$WORK/swap-samples.raw" --outside "$WORK/swap-windows.txt")
during=$(pooled "$WORK/swap-samples.raw" --during "$WORK/swap-windows.txt")
swap_ms=$(awk '{ print $2 - $1 }' "$WORK/swap-windows.txt" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')

echo "### Swap under load"
echo
echo "$CONN connections streaming chat from one alias (max_tokens $MAX_TOKENS, context $CTX x $CONN slots," \
  "$THREADS threads): ${STEADY}s without swaps, then ${SECS}s while it is swapped $SWAPS times between two $SIZE" \
  "generators (each phase after ${WARMUP}s unmeasured);" \
  "memory_budget $(mib "$BUDGET") MiB ($FIT models' worth at $(mib "$PER_MODEL") MiB each)."
echo
echo "| requests in the swap phase | failed (goal 0) | swaps that answered with the new model | swap time median (ms) |"
echo "|---:|---:|---:|---:|"
echo "| $(summary_field "$all" requests) | $(summary_field "$all" errors) | $swapped / $SWAPS | $swap_ms |"
echo
echo "| requests | count | p50 (ms) | p99 (ms) | TTFT p50 (ms) | TTFT p99 (ms) |"
echo "|---|---:|---:|---:|---:|---:|"
row() { printf "| %s | %s | %.0f | %.0f | %.0f | %.0f |\n" "$1" "$(summary_field "$2" requests)" "$(summary_field "$2" p50_ms)" \
  "$(summary_field "$2" p99_ms)" "$(summary_field "$2" ttft_p50_ms)" "$(summary_field "$2" ttft_p99_ms)"; }
row "steady phase (no swaps)" "$steady"
row "swap phase: overlapped no swap" "$between"
row "swap phase: overlapped a swap" "$during"
r() { ratio "$(summary_field "$during" "$1")" "$(summary_field "$steady" "$1")"; }
echo "| overlapped a swap / steady phase | | $(r p50_ms) | $(r p99_ms) | $(r ttft_p50_ms) | $(r ttft_p99_ms) |"
[ "$(summary_field "$steady" errors)" = 0 ] || echo "(the steady phase had $(summary_field "$steady" errors) failed requests)"
