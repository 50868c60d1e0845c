#!/usr/bin/env bash
# Instructions per request in the gateway process, counted by valgrind's
# callgrind: a count that other load on the machine does not move (this
# VM exposes no hardware counters to `perf stat`), for A/B decisions on
# the request path. For each binary and case: a gateway with one worker
# under callgrind, a warm-up, the counters zeroed, REQUESTS keep-alive
# requests from one curl (URL globbing reuses the connection), the
# counters dumped; instructions (Ir, user space, every thread of the
# process) divided by REQUESTS. The dumps are callgrind profiles too:
# `callgrind_annotate $OUT/NAME-CASE.out` shows where the instructions go.
#
#   bench/instructions.sh a=target/release/lunagate b=/tmp/other/lunagate
#   REQUESTS=4000 bench/instructions.sh main=bin
#
# Cases: plain (no plugin), auth (the seed's custom-auth pre-function as
# bench/proxy.sh runs it, proxied: 200) and 401 (the same function, no
# key: a JSON body); on request, 1m (a 1 MiB response, no function) and
# 1m-bf (the same response through a pass-through body_filter
# post-function, as bench/proxy.sh's 1m case) and chunked (a 64 KiB
# request body sent chunked, forwarded chunked: a chunk upstream per
# piece read from the client):
#
#   CASES="1m 1m-bf chunked" REQUESTS=200 bench/instructions.sh main=bin
#
# The upstream is nginx (bench/nginx/upstream.nginx.conf, 1 worker).
# Needs valgrind, nginx and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-2000}
WARMUP=${WARMUP:-300}
UP_PORT=${UP_PORT:-28480}
BASE_PORT=${BASE_PORT:-28500}
CASES=${CASES:-plain auth 401}
OUT=${OUT:-/tmp/lunagate-instructions}

[ $# -ge 1 ] || { sed -n '2,26p' "$0" >&2; exit 2; }
for tool in valgrind callgrind_control nginx curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
mkdir -p "$OUT"

RUN=$(mktemp -d /tmp/lunagate-instr.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 600); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing answers on port $1" >&2
  return 1
}

mkdir -p "$RUN/upstream"
sed -e "s#@WORKERS@#1#g" -e "s#@PORT@#$UP_PORT#g" -e "s#@RUNDIR@#$RUN/upstream#g" \
  bench/nginx/upstream.nginx.conf >"$RUN/upstream/nginx.conf"
head -c 1048576 /dev/zero | tr '\0' a >"$RUN/upstream/1m.bin"
head -c 65536 /dev/zero | tr '\0' b >"$RUN/64k.bin"
# nginx's workers (nobody) must reach it through mktemp's 0700 directory.
chmod 711 "$RUN" "$RUN/upstream"
chmod 644 "$RUN/upstream/1m.bin"
nginx -p "$RUN/upstream" -c "$RUN/upstream/nginx.conf" -g 'daemon off;' 2>"$RUN/upstream/stderr" &
PIDS+=($!)
wait_port "$UP_PORT"

# bench/proxy.sh's custom-auth (the one measured against nginx + Lua):
# a JSON body on the 401, the header cleared through kong.service.request.
cat >"$RUN/custom-auth.lua" <<'LUA'
local key = kong.request.get_header("x-custom-auth")
if not key then return kong.response.exit(401, {message = "Invalid Credentials"}) end
kong.service.request.clear_header("x-custom-auth")
LUA

# burst PORT CASE N: N requests of CASE on one keep-alive connection.
burst() {
  local path=/ header=()
  case $2 in
    plain) path=/ ;;
    auth) path=/auth header=(-H 'x-custom-auth: k') ;;
    401) path=/auth ;;
    1m) path=/1m ;;
    1m-bf) path=/1m-bf ;;
    chunked) header=(-H 'Transfer-Encoding: chunked' --data-binary "@$RUN/64k.bin") ;;
  esac
  curl -s -o /dev/null "${header[@]}" "http://127.0.0.1:$1$path?n=[1-$3]"
}

printf '%-10s %-6s %14s\n' binary case "instr/req"
i=0
for spec in "$@"; do
  name=${spec%%=*} bin=${spec#*=}
  [ -x "$bin" ] || { echo "$bin: not an executable" >&2; exit 1; }
  proxy=$((BASE_PORT + 2 * i)) admin=$((BASE_PORT + 2 * i + 1))
  i=$((i + 1))
  mkdir -p "$RUN/$name"
  LUNAGATE_LOG_LEVEL=warn valgrind --tool=callgrind --callgrind-out-file="$RUN/$name/cg.%p" \
    "$bin" serve --workers 1 --proxy-listen "127.0.0.1:$proxy" --admin-listen "127.0.0.1:$admin" \
    --proxy-listen-tls off --data-dir "$RUN/$name" >"$RUN/$name.out" 2>&1 &
  pid=$!
  PIDS+=($pid)
  wait_port "$admin"
  a="http://127.0.0.1:$admin"
  curl -sf -o /dev/null -X POST "$a/services" -d name=plain -d "url=http://127.0.0.1:$UP_PORT"
  curl -sf -o /dev/null -X POST "$a/services/plain/routes" -d 'paths[]=/'
  curl -sf -o /dev/null -X POST "$a/services" -d name=auth -d "url=http://127.0.0.1:$UP_PORT"
  curl -sf -o /dev/null -X POST "$a/services/auth/routes" -d 'paths[]=/auth'
  curl -sf -o /dev/null -X POST "$a/services/auth/plugins" \
    -F name=pre-function -F "config.access[]=@$RUN/custom-auth.lua"
  curl -sf -o /dev/null -X POST "$a/services" -d name=1m -d "url=http://127.0.0.1:$UP_PORT/1m"
  curl -sf -o /dev/null -X POST "$a/services/1m/routes" -d 'paths[]=/1m' -d name=1m
  curl -sf -o /dev/null -X POST "$a/services" -d name=1m-bf -d "url=http://127.0.0.1:$UP_PORT/1m"
  curl -sf -o /dev/null -X POST "$a/services/1m-bf/routes" -d 'paths[]=/1m-bf'
  # Pass-through: reads the chunk and the eof flag, changes nothing.
  curl -sf -o /dev/null -X POST "$a/services/1m-bf/plugins" -F name=post-function \
    -F 'config.body_filter[]=local chunk, eof = ngx.arg[1], ngx.arg[2]'
  [ "$(curl -s "http://127.0.0.1:$proxy/")" = ok ] || { echo "$name does not proxy" >&2; exit 1; }
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$proxy/auth")" = 401 ] ||
    { echo "$name: the pre-function does not answer 401" >&2; exit 1; }
  for c in $CASES; do
    burst "$proxy" "$c" "$WARMUP"
    callgrind_control -z "$pid" >/dev/null 2>&1
    burst "$proxy" "$c" "$REQUESTS"
    callgrind_control -d "$name-$c" "$pid" >/dev/null 2>&1
    dump=$(ls -t "$RUN/$name"/cg.* | head -1)
    cp "$dump" "$OUT/$name-$c.out"
    ir=$(awk '/^summary:/ { print $2 }' "$dump")
    printf '%-10s %-6s %14.0f\n' "$name" "$c" "$(awk -v a="$ir" -v n="$REQUESTS" 'BEGIN { print a / n }')"
  done
  kill "$pid" 2>/dev/null || true
done
echo "(callgrind dumps in $OUT: callgrind_annotate $OUT/NAME-CASE.out)"
