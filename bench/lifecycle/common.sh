# Shared by swap.sh, many_models.sh and cold_start.sh (sourced from the repository root with BUILD
# set): the generated models, what xervo charges its memory budget for one of them, the budget that
# holds LIFECYCLE_FIT of them, xervo.toml pieces, HTTP calls, and the markdown table helpers.
source bench/server/common.sh
CLIENT=$BUILD/bench/server/xervo_bench_server
RSS=$BUILD/bench/lifecycle/xervo_bench_rss
need_binaries "$CLIENT" "$RSS"
command -v curl >/dev/null || { echo "bench/lifecycle: needs curl" >&2; exit 1; }
THREADS=${BENCH_THREADS:-$(nproc)}
SIZE=${LIFECYCLE_SIZE:-small}       # xervo-testmodel --size of every generated model
CTX=${LIFECYCLE_CONTEXT:-512}       # context per slot, for both servers
FIT=${LIFECYCLE_FIT:-2.5}           # the budget holds this many models' worth
MAX_TOKENS=${LIFECYCLE_MAX_TOKENS:-16}
WORK=$BUILD/bench-lifecycle
MODELS=$WORK/models
mkdir -p "$MODELS"
trap stop_servers EXIT

make_models() {  # N: gen-1 ... gen-N, one shape, different seeds (distinct files, as in a catalog)
  local i
  for i in $(seq 1 "$1"); do
    [ -f "$MODELS/gen-$i.gguf" ] || "$GEN" --kind generator --size "$SIZE" --seed "$i" -o "$MODELS/gen-$i.gguf" >&2
  done
  cat "$MODELS"/gen-*.gguf >/dev/null  # every file in the page cache, for both servers alike
}
model_file() { realpath "$MODELS/$1.gguf"; }

alias_toml() {  # alias model-name parallel [warmup]
  cat <<TOML
[models."$1"]
task = "generate"
provider = "llamacpp"
model = "$(model_file "$2")"
warmup = "${4:-lazy}"
options = { threads = $THREADS, context_size = $CTX, parallel = $3 }
TOML
}
runtime_toml() {  # [budget-bytes]: [runtime] and the start of [server] (callers may add [server] keys)
  [ -z "${1:-}" ] || printf '[runtime]\nmemory_budget = %s\n' "$1"
  cat <<TOML
[server]
threads = 64
max_queue_per_model = 256
access_log = false
TOML
}

# HTTP against 127.0.0.1: prints the body; fails (and says so) unless the status is 2xx.
# ADMIN_KEY, when set, goes as the bearer token.
http() {  # method port path [json-body]
  local body out status
  body=$(mktemp "$WORK/http.XXXXXX")  # one per call: calls may run at once
  local args=(-sS -X "$1" -o "$body" -w '%{http_code}' "http://127.0.0.1:$2$3")
  [ -n "${ADMIN_KEY:-}" ] && args+=(-H "Authorization: Bearer $ADMIN_KEY")
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' -d "$4")
  status=$(curl "${args[@]}") || status=000
  out=$(cat "$body")
  rm -f "$body"
  if [[ "$status" != 2* ]]; then
    echo "bench/lifecycle: $1 $3 -> HTTP $status: $out" >&2
    return 1
  fi
  printf '%s\n' "$out"
}
json_number() {  # key < flat JSON: the first number under that key
  sed -n "s/.*\"$1\":\(-\{0,1\}[0-9][0-9.e+-]*\).*/\1/p" | head -1
}

# What xervo's budget charges for one model loaded with `parallel` slots: one probe load on a server
# of its own, remembered per shape. The budget is then FIT of these, and llama-server's --models-max
# the whole number of them that fits.
charged_bytes() {  # parallel
  local cache=$WORK/charged-$SIZE-ctx$CTX-np$1.bytes bytes
  if [ ! -s "$cache" ]; then
    { alias_toml probe gen-1 "$1" && runtime_toml; } >"$WORK/probe.toml"
    start_xervo "$WORK/probe.toml" "$WORK/probe.log"
    http POST "$XERVO_PORT" /v1/runtime/models/load '{"model":"probe"}' >/dev/null
    bytes=$(http GET "$XERVO_PORT" /v1/runtime/models | json_number charged_bytes)
    stop_servers
    [ -n "$bytes" ] && [ "$bytes" -gt 0 ] ||
      { echo "bench/lifecycle: xervo reported no charged_bytes for a loaded model" >&2; exit 1; }
    echo "$bytes" >"$cache"
  fi
  cat "$cache"
}
budget_for() { awk -v b="$1" -v f="$FIT" 'BEGIN { printf "%d", b * f }'; }  # charged-bytes
models_that_fit() { awk -v f="$FIT" 'BEGIN { printf "%d", f }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }
json_string() {  # key < flat JSON: the first string under that key, up to its first quote
  sed -n "s/.*\"$1\":\"\([^\"]*\).*/\1/p" | head -1
}
summary_field() { json_number "$2" <<<"$1"; }  # client-json key
