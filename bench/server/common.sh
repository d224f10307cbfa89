# Shared by run.sh and hostile.sh (and bench/lifecycle): starting xervo serve and llama-server on free
# ports, waiting for them, and stopping them at exit. Needs XERVO, LLAMA_BIN and THREADS set by the
# caller (need_binaries sets the first two).
PIDS=()
need_binaries() {  # extra binaries...: sets LLAMA_BIN, XERVO and GEN from BUILD; all must exist
  LLAMA_BIN=${XERVO_DEPS_DIR:-$HOME/.cache/xervo/deps}/llama.cpp/build/bin
  XERVO=$BUILD/src/cli/xervo
  GEN=$BUILD/tools/testmodel/xervo-testmodel
  local f
  for f in "$XERVO" "$GEN" "$LLAMA_BIN/llama-server" "$@"; do
    [ -x "$f" ] || { echo "bench: missing $f (build first: make build)" >&2; exit 1; }
  done
}
stop_servers() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
free_port() {
  local p
  local start=$((20000 + RANDOM % 12000))  # below the ephemeral range (32768+) that clients use
  for p in $(seq $start $((start + 100))); do
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
  done
  echo "no free port" >&2; exit 1
}
healthy() {  # port: GET /health answers 200
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    read -r line <&3
    [[ "$line" == *" 200 "* ]]
  ) 2>/dev/null
}
wait_up() {  # port pid log
  for _ in $(seq 1 600); do
    healthy "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "server exited; see $3" >&2; exit 1; }
    sleep 0.2
  done
  echo "server did not come up; see $3" >&2; exit 1
}

start_xervo() {  # config log: sets XERVO_PORT and XERVO_PID
  : >"$2"  # here, not only in the background job: else the port may be read from the previous run's log
  "$XERVO" --config "$1" serve --port 0 >"$2" 2>&1 &
  XERVO_PID=$!
  PIDS+=($XERVO_PID)
  XERVO_PORT=
  for _ in $(seq 1 600); do
    XERVO_PORT=$(sed -n 's|^xervo serve: listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$2")
    [ -n "$XERVO_PORT" ] && break
    kill -0 "$XERVO_PID" 2>/dev/null || { echo "xervo serve exited; see $2" >&2; exit 1; }
    sleep 0.2
  done
  wait_up "$XERVO_PORT" "$XERVO_PID" "$2"
}
start_llama() {  # log file, then llama-server's model arguments: sets PORT and LLAMA_PID
  local log=$1
  shift
  PORT=$(free_port)
  "$LLAMA_BIN/llama-server" "$@" --threads-http 64 -t "$THREADS" -tb "$THREADS" --port "$PORT" >"$log" 2>&1 &
  LLAMA_PID=$!
  PIDS+=($LLAMA_PID)
  wait_up "$PORT" "$LLAMA_PID" "$log"
}
