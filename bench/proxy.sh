#!/usr/bin/env bash
# Proxying throughput, in one run on loopback: the upstream alone, nginx
# proxy_pass (the peer), and lunagate proxying one route; then the seed's
# custom-auth function: nginx + lua-nginx-module (OpenResty's core, Kong's
# engine) against lunagate with the same check as a pre-function, both on
# the proxied path (header sent) and the 401 path; then HTTPS termination:
# nginx `ssl` against lunagate's TLS listener on the same ECDSA P-256
# certificate, keep-alive and handshake-heavy (`Connection: close`: one
# full handshake per request; wrk resumes no session).
#
# Method (bench/README of the shared docs): the gateway under test runs one
# worker pinned to CPU 1; the upstream (nginx, 1 worker) and wrk are pinned
# to CPU 0; keep-alive everywhere; 2 s warm-up, REPS repetitions of
# DURATION seconds, medians. Printed per case: RPS, p50/p99 latency, the
# gateway's CPU µs per request (process CPU time / requests: the figure
# least disturbed by other load), and lunagate/nginx ratios.
#
#   bench/proxy.sh                    # 32 and 256 connections, 3 x 10 s
#   REPS=1 DURATION=5 CONNS="32" bench/proxy.sh
#   LUA=0 bench/proxy.sh              # no serverless rows
#   TLS=0 bench/proxy.sh              # no HTTPS rows
#   LUNAGATE_BIN=target/x86_64-unknown-linux-musl/release/lunagate bench/proxy.sh
#
# Needs nginx, libnginx-mod-http-lua and wrk (Debian packages), and the
# openssl command for the HTTPS rows' certificate.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-"32 256"}
UP_PORT=${UP_PORT:-28080}
NGINX_PORT=${NGINX_PORT:-28081}
NGINX_LUA_PORT=${NGINX_LUA_PORT:-28082}
LUA=${LUA:-1}
LG_PORT=${LG_PORT:-28000}
ADMIN_PORT=${ADMIN_PORT:-28001}
TLS=${TLS:-1}
NGINX_TLS_PORT=${NGINX_TLS_PORT:-28443}
LG_TLS_PORT=${LG_TLS_PORT:-28444}
GW_CPU=${GW_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}

for tool in nginx wrk taskset curl; do
  if ! command -v "$tool" >/dev/null; then
    if [ "$tool" = nginx ] || [ "$tool" = wrk ]; then
      echo "installing $tool" >&2
      (apt-get install -y -q nginx libnginx-mod-http-lua wrk >/dev/null 2>&1 || sudo apt-get install -y -q nginx libnginx-mod-http-lua wrk >/dev/null) ||
        { echo "needs $tool: apt-get install nginx libnginx-mod-http-lua wrk" >&2; exit 1; }
    else
      echo "needs $tool" >&2; exit 1
    fi
  fi
done

if [ -n "${LUNAGATE_BIN:-}" ]; then
  LG=$LUNAGATE_BIN # a given build, e.g. the static one from .ci/build-static
else
  cargo build --release -q -p lunagate >/dev/null 2>&1 || cargo build --release -p lunagate
  LG=${CARGO_TARGET_DIR:-$PWD/target}/release/lunagate
fi

RUN=$(mktemp -d /tmp/lunagate-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT

# start_nginx NAME CONF PORT CPU [UPSTREAM]
start_nginx() {
  local dir=$RUN/$1
  mkdir -p "$dir"
  sed -e "s#@WORKERS@#1#g" -e "s#@PORT@#$3#g" -e "s#@UP@#${5:-}#g" -e "s#@RUNDIR@#$dir#g" \
    "bench/nginx/$2" >"$dir/nginx.conf"
  taskset -c "$4" nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' 2>"$dir/stderr" &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

wait_port() {
  for _ in $(seq 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing answers on port $1" >&2
  return 1
}

# CPU time (ticks) of a process and its children threads/processes.
cpu_ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    if [ -r "/proc/$p/stat" ]; then
      # utime + stime are fields 14 and 15; the command name may hold spaces.
      total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
    fi
  done
  echo "$total"
}

# wrk_once URL CONNS [HEADER] -> "rps p50_ms p99_ms requests"
wrk_once() {
  local hdr=()
  [ -n "${3:-}" ] && hdr=(-H "$3")
  taskset -c "$LOAD_CPU" wrk -t1 -c"$2" -d"${DURATION}s" --latency "${hdr[@]}" "$1" | awk '
    function ms(v) {
      if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
      if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
      if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
      return v
    }
    /Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    / requests in / { reqs = $1 }
    END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, reqs }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# measure NAME URL CONNS GATEWAY_PID(or "") [HEADER] -> appends a result line
RESULTS=$RUN/results
measure() {
  local name=$1 url=$2 c=$3 pid=$4 header=${5:-}
  taskset -c "$LOAD_CPU" wrk -t1 -c"$c" -d2s "$url" >/dev/null 2>&1 || true
  local rps=() p50=() p99=() cpu=()
  for _ in $(seq "$REPS"); do
    local t0=0 t1=0
    [ -n "$pid" ] && t0=$(cpu_ticks "$pid")
    read -r r a b n < <(wrk_once "$url" "$c" "$header")
    [ -n "$pid" ] && t1=$(cpu_ticks "$pid")
    rps+=("$r"); p50+=("$a"); p99+=("$b")
    if [ -n "$pid" ] && [ "$n" -gt 0 ]; then
      cpu+=("$(awk -v d=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')")
    else
      cpu+=("-")
    fi
  done
  local mr m50 m99 mc
  mr=$(printf '%s\n' "${rps[@]}" | median)
  m50=$(printf '%s\n' "${p50[@]}" | median)
  m99=$(printf '%s\n' "${p99[@]}" | median)
  mc=$(printf '%s\n' "${cpu[@]}" | median)
  echo "$name $c $mr $m50 $m99 $mc" >>"$RESULTS"
  printf '%-14s c=%-4s %9s rps  p50 %7s ms  p99 %7s ms  cpu %6s us/req\n' "$name" "$c" "$mr" "$m50" "$m99" "$mc" >&2
}

echo "starting upstream (nginx, CPU $LOAD_CPU) on :$UP_PORT" >&2
start_nginx upstream upstream.nginx.conf "$UP_PORT" "$LOAD_CPU"
wait_port "$UP_PORT"

echo "starting nginx proxy_pass (CPU $GW_CPU) on :$NGINX_PORT" >&2
start_nginx nginx nginx-plain.conf "$NGINX_PORT" "$GW_CPU" "127.0.0.1:$UP_PORT"
NGINX_PID=$LAST_PID
wait_port "$NGINX_PORT"

if [ "$TLS" = 1 ]; then
  command -v openssl >/dev/null || { echo "the HTTPS rows need the openssl command (TLS=0 skips them)" >&2; exit 1; }
  mkdir -p "$RUN/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$RUN/tls/key.pem" -out "$RUN/tls/cert.pem" 2>/dev/null
  echo "starting nginx ssl (CPU $GW_CPU) on :$NGINX_TLS_PORT" >&2
  start_nginx nginx-ssl nginx-ssl.conf "$NGINX_TLS_PORT" "$GW_CPU" "127.0.0.1:$UP_PORT"
  NGINX_TLS_PID=$LAST_PID
  for _ in $(seq 100); do curl -sk -o /dev/null "https://localhost:$NGINX_TLS_PORT/" && break; sleep 0.05; done
fi

echo "starting lunagate, 1 worker (CPU $GW_CPU) on :$LG_PORT (TLS :$LG_TLS_PORT)" >&2
mkdir -p "$RUN/lunagate"
LUNAGATE_LOG_LEVEL=warn taskset -c "$GW_CPU" "$LG" serve --workers 1 \
  --proxy-listen "127.0.0.1:$LG_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  --proxy-listen-tls "127.0.0.1:$LG_TLS_PORT" \
  --data-dir "$RUN/lunagate" >"$RUN/lunagate.out" 2>&1 &
LG_PID=$!
PIDS+=("$LG_PID")
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$ADMIN_PORT/" && break
  sleep 0.05
done
curl -sf -o /dev/null -X POST "http://127.0.0.1:$ADMIN_PORT/services" \
  -d name=bench -d "url=http://127.0.0.1:$UP_PORT"
curl -sf -o /dev/null -X POST "http://127.0.0.1:$ADMIN_PORT/services/bench/routes" -d 'paths[]=/'
[ "$(curl -s "http://127.0.0.1:$LG_PORT/")" = ok ] || { echo "lunagate does not proxy" >&2; cat "$RUN/lunagate.out" >&2; exit 1; }
if [ "$TLS" = 1 ]; then
  # The same certificate as nginx's, for every SNI.
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$ADMIN_PORT/certificates" \
    --data-urlencode "cert@$RUN/tls/cert.pem" --data-urlencode "key@$RUN/tls/key.pem" -d 'snis[]=*'
  for url in "https://localhost:$LG_TLS_PORT/" "https://localhost:$NGINX_TLS_PORT/"; do
    [ "$(curl -s --cacert "$RUN/tls/cert.pem" "$url")" = ok ] ||
      { echo "no HTTPS answer with the bench certificate from $url" >&2; exit 1; }
  done
fi

if [ "$LUA" = 1 ]; then
  echo "starting nginx + lua custom-auth (CPU $GW_CPU) on :$NGINX_LUA_PORT" >&2
  start_nginx nginx-lua nginx-lua.conf "$NGINX_LUA_PORT" "$GW_CPU" "127.0.0.1:$UP_PORT"
  NGINX_LUA_PID=$LAST_PID
  wait_port "$NGINX_LUA_PORT" || true
  # The same check as the reference's access_by_lua_block, as a pre-function.
  cat >"$RUN/custom-auth.lua" <<'LUA'
local key = kong.request.get_header("x-custom-auth")
if not key then return kong.response.exit(401, {message = "Invalid Credentials"}) end
kong.service.request.clear_header("x-custom-auth")
LUA
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$ADMIN_PORT/services" -d name=auth -d "url=http://127.0.0.1:$UP_PORT"
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$ADMIN_PORT/services/auth/routes" -d 'paths[]=/auth'
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$ADMIN_PORT/services/auth/plugins" \
    -F name=pre-function -F "config.access[]=@$RUN/custom-auth.lua"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$LG_PORT/auth")" = 401 ] ||
    { echo "lunagate's pre-function does not answer 401" >&2; exit 1; }
  [ "$(curl -s -H 'x-custom-auth: k' "http://127.0.0.1:$LG_PORT/auth")" = ok ] ||
    { echo "lunagate's pre-function does not let the request through" >&2; exit 1; }
fi

: >"$RESULTS"
for c in $CONNS; do
  measure upstream "http://127.0.0.1:$UP_PORT/" "$c" ""
  measure nginx "http://127.0.0.1:$NGINX_PORT/" "$c" "$NGINX_PID"
  measure lunagate "http://127.0.0.1:$LG_PORT/" "$c" "$LG_PID"
  if [ "$LUA" = 1 ]; then
    measure nginx-lua "http://127.0.0.1:$NGINX_LUA_PORT/" "$c" "$NGINX_LUA_PID" "x-custom-auth: k"
    measure lunagate-lua "http://127.0.0.1:$LG_PORT/auth" "$c" "$LG_PID" "x-custom-auth: k"
    measure nginx-lua-401 "http://127.0.0.1:$NGINX_LUA_PORT/" "$c" "$NGINX_LUA_PID"
    measure lunagate-lua-401 "http://127.0.0.1:$LG_PORT/auth" "$c" "$LG_PID"
  fi
  if [ "$TLS" = 1 ]; then
    measure nginx-tls "https://localhost:$NGINX_TLS_PORT/" "$c" "$NGINX_TLS_PID"
    measure lunagate-tls "https://localhost:$LG_TLS_PORT/" "$c" "$LG_PID"
    measure nginx-tls-hs "https://localhost:$NGINX_TLS_PORT/" "$c" "$NGINX_TLS_PID" "Connection: close"
    measure lunagate-tls-hs "https://localhost:$LG_TLS_PORT/" "$c" "$LG_PID" "Connection: close"
  fi
done

echo
printf '%-16s %5s %10s %9s %9s %12s\n' target conns rps "p50 ms" "p99 ms" "cpu us/req"
while read -r name c r a b cpu; do
  printf '%-16s %5s %10s %9s %9s %12s\n' "$name" "$c" "$r" "$a" "$b" "$cpu"
done <"$RESULTS"
echo
ratio() { # PEER OURS CONNS LABEL
  awk -v c="$3" -v p="$1" -v o="$2" -v label="$4" '
    $1 == p && $2 == c { nr = $3; n99 = $5; nc = $6 }
    $1 == o && $2 == c { lr = $3; l99 = $5; lc = $6 }
    END {
      if (nr == 0 || lr == 0) exit
      printf "c=%-4s %-28s rps %.2fx  p99 %.2fx", c, label, lr / nr, l99 / n99
      if (nc > 0 && lc > 0) printf "  cpu/req %.2fx", lc / nc
      printf "\n"
    }' "$RESULTS"
}
for c in $CONNS; do
  ratio nginx lunagate "$c" "lunagate/nginx:"
  if [ "$LUA" = 1 ]; then
    ratio nginx-lua lunagate-lua "$c" "custom-auth lunagate/nginx-lua:"
    ratio nginx-lua-401 lunagate-lua-401 "$c" "401 path lunagate/nginx-lua:"
  fi
  if [ "$TLS" = 1 ]; then
    ratio nginx-tls lunagate-tls "$c" "HTTPS keep-alive lunagate/nginx:"
    ratio nginx-tls-hs lunagate-tls-hs "$c" "HTTPS handshakes lunagate/nginx:"
  fi
done
