#!/usr/bin/env bash
# Syscalls per request under load: lunagate against nginx (proxy_pass, for
# the plain case) and nginx + lua-nginx-module (bench/nginx/nginx-lua.conf,
# for the custom-auth 200 and 401 cases), set up as bench/proxy.sh's pinned
# mode: one worker on CPU GW_CPU, the upstream (nginx, 1 worker) and wrk
# (1 thread, CONNS keep-alive connections) on CPU LOAD_CPU. For each peer
# and case: a warm-up, then the tracer attached to the server (every
# thread), wrk for DURATION seconds, the tracer stopped; each syscall's
# count (and how many failed, EAGAIN mostly) divided by the requests wrk
# completed.
#
#   bench/syscalls.sh target/release/lunagate
#   TRACER=strace CASES="401" bench/syscalls.sh bin
#
# TRACER=perf (default: `perf trace -s`, cheap per syscall, so the
# server's batching under load is close to the untraced one) or strace
# (`strace -c -f`: every syscall stops the server, which then finds more
# work per epoll_wait; read its epoll_wait column as a lower bound).
# Counts are per request; batching makes epoll_wait and the wake-ups
# depend on load, the reads, writes and their failures do not.
# Needs nginx, libnginx-mod-http-lua, wrk, perf or strace.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
CONNS=${CONNS:-32}
CASES=${CASES:-plain auth 401}
TRACER=${TRACER:-perf}
GW_CPU=${GW_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
BASE_PORT=${BASE_PORT:-28600}

[ $# -eq 1 ] && [ -x "$1" ] || { sed -n '2,22p' "$0" >&2; exit 2; }
LG=$1
for tool in nginx wrk taskset curl "$TRACER"; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done

RUN=$(mktemp -d /tmp/lunagate-syscalls.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT

wait_url() {
  for _ in $(seq 200); do
    curl -s -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing answers at $1" >&2
  return 1
}

up=$BASE_PORT ngx=$((BASE_PORT + 1)) ngx_lua=$((BASE_PORT + 2)) lg=$((BASE_PORT + 4))
# start_nginx NAME CONF PORT CPU [UPSTREAM]
start_nginx() {
  local dir=$RUN/$1
  mkdir -p "$dir"
  sed -e "s#@WORKERS@#1#g" -e "s#@PORT@#$3#g" -e "s#@UP@#${5:-}#g" -e "s#@RUNDIR@#$dir#g" \
    "bench/nginx/$2" >"$dir/nginx.conf"
  # nginx's workers (nobody) must reach it through mktemp's 0700 directory.
  chmod 711 "$RUN" "$dir"
  taskset -c "$4" nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' 2>"$dir/stderr" &
  PIDS+=($!)
}
# The worker's pid: nginx's master forks it.
worker_of() { pgrep -P "$1" | head -1; }

start_nginx upstream upstream.nginx.conf "$up" "$LOAD_CPU"
up_master=${PIDS[-1]}
start_nginx nginx nginx-plain.conf "$ngx" "$GW_CPU" "127.0.0.1:$up"
ngx_master=${PIDS[-1]}
start_nginx nginx-lua nginx-lua.conf "$ngx_lua" "$GW_CPU" "127.0.0.1:$up"
ngx_lua_master=${PIDS[-1]}

cat >"$RUN/custom-auth.lua" <<'LUA'
local key = kong.request.get_header("x-custom-auth")
if not key then return kong.response.exit(401, {message = "Invalid Credentials"}) end
kong.service.request.clear_header("x-custom-auth")
LUA
mkdir -p "$RUN/lunagate"
LUNAGATE_LOG_LEVEL=warn taskset -c "$GW_CPU" "$LG" serve --workers 1 \
  --proxy-listen "127.0.0.1:$lg" --admin-listen "127.0.0.1:$((lg + 1))" --proxy-listen-tls off \
  --data-dir "$RUN/lunagate" >"$RUN/lunagate.out" 2>&1 &
lg_pid=$!
PIDS+=($lg_pid)
a="http://127.0.0.1:$((lg + 1))"
wait_url "$a/"
wait_url "http://127.0.0.1:$up/"
curl -sf -o /dev/null -X POST "$a/services" -d name=plain -d "url=http://127.0.0.1:$up"
curl -sf -o /dev/null -X POST "$a/services/plain/routes" -d 'paths[]=/'
curl -sf -o /dev/null -X POST "$a/services" -d name=auth -d "url=http://127.0.0.1:$up"
curl -sf -o /dev/null -X POST "$a/services/auth/routes" -d 'paths[]=/auth'
curl -sf -o /dev/null -X POST "$a/services/auth/plugins" \
  -F name=pre-function -F "config.access[]=@$RUN/custom-auth.lua"
wait_url "http://127.0.0.1:$ngx/"
wait_url "http://127.0.0.1:$ngx_lua/"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$lg/auth")" = 401 ] ||
  { echo "lunagate: the pre-function does not answer 401" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ngx_lua/")" = 401 ] ||
  { echo "nginx-lua does not answer 401" >&2; exit 1; }

# Voluntary context switches (the process went to sleep), all threads.
sleeps() {
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ { n += $2 } END { print n + 0 }'
}

# trace NAME PID URL [HEADER]: per-request syscall counts of PID while wrk runs.
trace() {
  local name=$1 pid=$2 url=$3 hdr=() out=$RUN/$1.trace
  [ -n "${4:-}" ] && hdr=(-H "$4")
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "${hdr[@]}" "$url" >/dev/null
  case $TRACER in
    perf) perf trace -s -p "$pid" -o "$out" 2>/dev/null & ;;
    strace) strace -c -f -p "$pid" -o "$out" 2>/dev/null & ;;
  esac
  local tracer=$!
  sleep 1
  local reqs sleeps0 sleeps1
  sleeps0=$(sleeps "$pid")
  reqs=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "${hdr[@]}" "$url" |
    awk '/ requests in / { print $1 }')
  sleeps1=$(sleeps "$pid")
  kill -INT "$tracer"
  wait "$tracer" 2>/dev/null || true
  echo "  (voluntary context switches: $(awk -v a="$sleeps0" -v b="$sleeps1" -v n="$reqs" 'BEGIN { printf "%.3f", (b - a) / n }') /req)" >"$RUN/$name.sleeps"
  # perf: "   name  calls  errors  total ..." per thread; strace: "% time
  # seconds usecs/call calls errors syscall". Summed over threads.
  awk -v n="$reqs" -v tracer="$TRACER" -v who="$name" '
    tracer == "perf" && NF >= 8 && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ { c[$1] += $2; e[$1] += $3 }
    tracer == "strace" && $1 ~ /^[0-9.]+$/ && NF >= 5 {
      if (NF == 6) { c[$6] += $4; e[$6] += $5 } else { c[$5] += $4 }
    }
    END {
      printf "%-22s %8d requests\n", who, n
      for (k in c) if (k != "total" && c[k] / n >= 0.005)
        printf "  %-18s %7.3f /req  (%.3f failed)\n", k, c[k] / n, e[k] / n
    }' "$out"
  cat "$RUN/$name.sleeps"
}

for c in $CASES; do
  case $c in
    plain)
      trace "lunagate-plain" "$lg_pid" "http://127.0.0.1:$lg/"
      trace "nginx-plain" "$(worker_of "$ngx_master")" "http://127.0.0.1:$ngx/"
      ;;
    auth)
      trace "lunagate-auth" "$lg_pid" "http://127.0.0.1:$lg/auth" "x-custom-auth: k"
      trace "nginx-lua-auth" "$(worker_of "$ngx_lua_master")" "http://127.0.0.1:$ngx_lua/" "x-custom-auth: k"
      ;;
    401)
      trace "lunagate-401" "$lg_pid" "http://127.0.0.1:$lg/auth"
      trace "nginx-lua-401" "$(worker_of "$ngx_lua_master")" "http://127.0.0.1:$ngx_lua/"
      ;;
  esac
done
: "$up_master"
