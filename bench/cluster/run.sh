#!/usr/bin/env bash
# Scale-out: 1 replica against 3 behind nginx (deploy/nginx/xervo.conf), same client (wrk), same load.
# The alias is served by the openai provider against a stand-in upstream on loopback that answers
# each request after 50 ms, and each replica sends at most 8 requests at once to it ([providers]
# max_in_flight): a replica's capacity is the upstream limit, not the CPU (2 cores cannot scale local
# inference across replicas). Two loads: cache misses (Cache-Control: no-cache, no-store) and cache
# hits (one request repeated; the response cache with its shared tier in Redis).
#   bash bench/cluster/run.sh [BUILD]
# Knobs: CLUSTER_SECONDS=15 CLUSTER_CONNECTIONS=48 CLUSTER_DELAY_MS=50 CLUSTER_IN_FLIGHT=8 CLUSTER_ROUNDS=1
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
XERVO=$BUILD/src/cli/xervo
UPSTREAM=$BUILD/bench/cluster/xervo_bench_upstream
SECONDS_RUN=${CLUSTER_SECONDS:-15}
CONNS=${CLUSTER_CONNECTIONS:-48}
DELAY=${CLUSTER_DELAY_MS:-50}
IN_FLIGHT=${CLUSTER_IN_FLIGHT:-8}
ROUNDS=${CLUSTER_ROUNDS:-1}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for tool in "$XERVO" "$UPSTREAM" "$NGINX" redis-server wrk; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing $tool (make build; scripts/bootstrap)"; exit 1; }
done
WORK=$BUILD/bench-cluster
rm -rf "$WORK" && mkdir -p "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # url
  for _ in $(seq 1 200); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "no answer from $1"; return 1
}

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
"$UPSTREAM" "$DELAY" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q listening "$WORK/upstream.log" && break; sleep 0.05; done
UP_PORT=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/upstream.log" | head -1)

cat >"$WORK/xervo.toml" <<TOML
[providers.openai]
base_url = "http://127.0.0.1:$UP_PORT/v1"
[models."embed/remote"]
task = "embed"
provider = "openai"
model = "stand-in"
options = { max_in_flight = $IN_FLIGHT, max_queued = 4096 }
[cache]
enabled = true
memory = "64MiB"
disk = 0
[server]
access_log = false
threads = 64
max_queue_per_model = 4096
[cluster]
redis_url = "redis://127.0.0.1:$REDIS_PORT"
TOML

REPLICA_PIDS=()
REPLICA_PORTS=()
start_replicas() {  # count
  REPLICA_PIDS=() REPLICA_PORTS=()
  for i in $(seq 1 "$1"); do
    local port; port=$(free_port)
    XERVO_HOME="$WORK/home$i" "$XERVO" --config "$WORK/xervo.toml" serve --port "$port" >"$WORK/replica$i.log" 2>&1 &
    REPLICA_PIDS+=($!) REPLICA_PORTS+=("$port")
  done
  for port in "${REPLICA_PORTS[@]}"; do wait_port "http://127.0.0.1:$port/health"; done
}
stop_replicas() {
  for p in "${REPLICA_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${REPLICA_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
NGINX_PID=
start_nginx() {
  local dir=$WORK/nginx port servers=""
  port=$(free_port)
  mkdir -p "$dir/temp"
  for p in "${REPLICA_PORTS[@]}"; do servers+="  server 127.0.0.1:$p max_fails=1 fail_timeout=1s;"$'\n'; done
  printf 'upstream xervo_affinity {\n  hash $xervo_affinity consistent;\n%s}\nupstream xervo_any {\n  least_conn;\n%s}\n' \
    "$servers" "$servers" >"$dir/upstreams.conf"
  sed "s/listen 8080;/listen 127.0.0.1:$port;/" "$ROOT/deploy/nginx/xervo.conf" >"$dir/xervo.conf"
  local user=""; [ "$(id -u)" = 0 ] && user="user root;"
  cat >"$dir/nginx.conf" <<NGINX
$user
daemon off;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/temp/body; proxy_temp_path $dir/temp/proxy; fastcgi_temp_path $dir/temp/fcgi;
  uwsgi_temp_path $dir/temp/uwsgi; scgi_temp_path $dir/temp/scgi;
  include $dir/upstreams.conf;
  include $dir/xervo.conf;
}
NGINX
  "$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" &
  NGINX_PID=$!
  PIDS+=($NGINX_PID)
  wait_port "http://127.0.0.1:$port/health"
  NGINX_PORT=$port
}

cat >"$WORK/miss.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cache-Control"] = "no-cache, no-store"
wrk.body = '{"model":"embed/remote","input":["scale-out benchmark"]}'
LUA
cat >"$WORK/hit.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"embed/remote","input":["scale-out benchmark, cached"]}'
LUA

# wrk's requests/s, p50 and p99 (ms), non-2xx count.
measure() {  # url script label
  local out
  out=$(wrk -t 2 -c "$CONNS" -d "${SECONDS_RUN}s" --latency -s "$2" "$1")
  echo "$out" >"$WORK/wrk-$3.txt"
  local rps p50 p99 errors
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errors=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") ${errors:-0}"
}
to_ms() { python3 -c "import sys,re; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v); f={'us':0.001,'ms':1,'s':1000}[m.group(2)]; print(round(float(m.group(1))*f,1))" "$1"; }

declare -A R
for round in $(seq 1 "$ROUNDS"); do
  start_replicas 1
  curl -fs -o /dev/null -H 'Content-Type: application/json' -d '{"model":"embed/remote","input":["warm"]}' "http://127.0.0.1:${REPLICA_PORTS[0]}/v1/embeddings"
  R[one_miss]+="$(measure "http://127.0.0.1:${REPLICA_PORTS[0]}/v1/embeddings" "$WORK/miss.lua" one-miss-$round);"
  R[one_hit]+="$(measure "http://127.0.0.1:${REPLICA_PORTS[0]}/v1/embeddings" "$WORK/hit.lua" one-hit-$round);"
  stop_replicas
  redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null
  start_replicas 3
  start_nginx
  R[three_miss]+="$(measure "http://127.0.0.1:$NGINX_PORT/v1/embeddings" "$WORK/miss.lua" three-miss-$round);"
  R[three_hit]+="$(measure "http://127.0.0.1:$NGINX_PORT/v1/embeddings" "$WORK/hit.lua" three-hit-$round);"
  kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true
  stop_replicas
  redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null
done

# The median round of each (rounds are few: the middle value).
pick() { echo "$1" | tr ';' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
echo
echo "bench/cluster: $CONNS connections, ${SECONDS_RUN} s per run, upstream delay ${DELAY} ms, max_in_flight $IN_FLIGHT per replica, $(nproc) cores, rounds $ROUNDS"
printf '| load | setup | requests/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|---|\n'
for load in miss hit; do
  read -r r1 a1 b1 e1 <<<"$(pick "${R[one_$load]}")"
  read -r r3 a3 b3 e3 <<<"$(pick "${R[three_$load]}")"
  printf '| cache %s | 1 replica | %s | %s | %s | %s |\n' "$load" "$r1" "$a1" "$b1" "$e1"
  printf '| cache %s | 3 replicas + nginx | %s | %s | %s | %s |\n' "$load" "$r3" "$a3" "$b3" "$e3"
  printf '| cache %s | **ratio 3/1** | **%sx** | | | |\n' "$load" "$(python3 -c "print(round($r3/$r1,2))")"
done
