#!/usr/bin/env bash
# Tracing's cost on the request path when the collector is down or stuck (docs/server/telemetry.md):
# p50 and p99 of the same chat requests against `xervo serve` with tracing off, with every request
# traced (sampler always_on) and the exporter pointed at a closed port, and pointed at a collector
# that accepts connections but never answers (each export then waits export_timeout_ms). One run, one
# model (a generated tiny llama), CONCURRENCY clients sending REQUESTS requests each way; the table
# gives each p99 over tracing off's.
#   bash bench/telemetry/run.sh [BUILD]      (REQUESTS=400 CONCURRENCY=4 THREADS=2 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
THREADS=${THREADS:-2}
REQUESTS=${REQUESTS:-400}
CONCURRENCY=${CONCURRENCY:-4}
source bench/server/common.sh
need_binaries
WORK=$BUILD/bench-telemetry
mkdir -p "$WORK"
SILENT_PID=
cleanup() {
  stop_servers
  [ -n "$SILENT_PID" ] && kill "$SILENT_PID" 2>/dev/null || true
}
trap cleanup EXIT

MODEL=$WORK/generator-tiny.gguf
[ -f "$MODEL" ] || "$GEN" --kind generator --size tiny -o "$MODEL" >/dev/null
export XERVO_HOME=$WORK/home
rm -rf "$XERVO_HOME"

# A closed port: bound by nothing. A silent collector: listens, accepts, never reads or answers.
CLOSED=$(free_port)
SILENT=$(free_port)
python3 - "$SILENT" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(128)
held = []
while True:
    c, _ = s.accept(); held.append(c)  # kept open, never answered
PY
SILENT_PID=$!

config() {  # file, telemetry table lines
  cat >"$1" <<TOML
[models."chat"]
task = "generate"
model = "$MODEL"
warmup = "eager"
options = { threads = $THREADS, parallel = $CONCURRENCY }
[server]
access_log = false
$2
TOML
}

# Sequential requests per client thread; prints "p50_ms p99_ms" of all of them (after a warm-up).
measure() {  # port
  python3 - "$1" "$REQUESTS" "$CONCURRENCY" <<'PY'
import http.client, json, sys, threading, time
port, total, conc = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
body = json.dumps({"model": "chat", "max_tokens": 8, "messages": [{"role": "user", "content": "tell me a story"}]})
lat, lock = [], threading.Lock()
def client(n, record):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for i in range(n):
        t = time.perf_counter()
        c.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json",
                  "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
        r = c.getresponse(); r.read()
        if r.status != 200: sys.exit(f"HTTP {r.status}")
        if record:
            with lock: lat.append((time.perf_counter() - t) * 1000)
for record, n in ((False, 8), (True, total // conc)):
    ts = [threading.Thread(target=client, args=(n, record)) for _ in range(conc)]
    [t.start() for t in ts]; [t.join() for t in ts]
lat.sort()
print(f"{lat[len(lat) // 2]:.3f} {lat[min(len(lat) - 1, int(len(lat) * 0.99))]:.3f}")
PY
}

run() {  # name, telemetry lines -> "name p50 p99"
  config "$WORK/xervo.toml" "$2"
  start_xervo "$WORK/xervo.toml" "$WORK/xervo-$1.log"
  local result
  result=$(measure "$XERVO_PORT")
  local dropped
  dropped=$(python3 -c "import urllib.request,re,sys; t=urllib.request.urlopen('http://127.0.0.1:$XERVO_PORT/metrics').read().decode(); print(sum(int(float(m)) for m in re.findall(r'^xervo_trace_spans_dropped_total\{[^}]*\} (\S+)', t, re.M)))")
  stop_servers
  echo "$1 $result $dropped"
}

TRACED="[telemetry]
sampler = \"always_on\"
export_interval_ms = 200
export_timeout_ms = 2000"
off=$(run off "")
closed=$(run closed "$TRACED
endpoint = \"http://127.0.0.1:$CLOSED\"")
silent=$(run silent "$TRACED
endpoint = \"http://127.0.0.1:$SILENT\"")

read -r _ op50 op99 _ <<<"$off"
echo "### Request latency with the trace collector down ($REQUESTS chat requests, $CONCURRENCY clients, max_tokens 8, generated tiny llama, $THREADS threads)"
echo
echo "| tracing | p50 ms | p99 ms | p99 / tracing off | spans dropped |"
echo "|---|---:|---:|---:|---:|"
row() {  # label, result line
  read -r _ p50 p99 dropped <<<"$2"
  awk -v l="$1" -v a="$p50" -v b="$p99" -v o="$op99" -v d="$dropped" \
    'BEGIN { printf "| %s | %.2f | %.2f | **%.2fx** | %s |\n", l, a, b, b / o, d }'
}
row "off" "$off"
row "on, collector port closed" "$closed"
row "on, collector accepts and never answers" "$silent"
