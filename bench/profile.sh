#!/usr/bin/env bash
# Where the gateway's time goes on one proxy case: `perf record` of the
# gateway (the `profiling` build: release with symbols) while wrk drives
# it, then the top symbols, user and kernel, and a per-request syscall
# count (`perf trace -s`). Method as bench/proxy.sh's pinned mode: one
# worker on CPU GW_CPU, the nginx upstream and wrk on CPU LOAD_CPU.
#
#   bench/profile.sh plain        # proxying one route, no plugin
#   bench/profile.sh 401          # the seed's custom-auth pre-function, 401 path
#   bench/profile.sh auth         # the same function, proxied (200) path
#   DURATION=10 CONNS=32 TOP=40 bench/profile.sh plain
#   CALLGRAPH=dwarf bench/profile.sh 401   # call graphs (large perf.data)
#
# Output in $OUT (default /tmp/lunagate-profile-CASE): perf.data,
# report.txt (flat, self time), syscalls.txt. Needs perf (root, or
# kernel.perf_event_paranoid <= 1 for kernel symbols), nginx and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

CASE=${1:-plain}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
TOP=${TOP:-30}
GW_CPU=${GW_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
UP_PORT=${UP_PORT:-28380}
LG_PORT=${LG_PORT:-28300}
ADMIN_PORT=${ADMIN_PORT:-28301}
CALLGRAPH=${CALLGRAPH:-}
OUT=${OUT:-/tmp/lunagate-profile-$CASE}

case $CASE in
  plain) PATH_=/ HEADER= ;;
  401) PATH_=/auth HEADER= ;;
  auth) PATH_=/auth HEADER="x-custom-auth: k" ;;
  *) echo "case: plain, 401 or auth" >&2; exit 2 ;;
esac
for tool in perf nginx wrk taskset curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done

if [ -n "${LUNAGATE_BIN:-}" ]; then
  LG=$LUNAGATE_BIN
else
  cargo build --profile profiling -q -p lunagate >/dev/null 2>&1 || cargo build --profile profiling -p lunagate
  LG=${CARGO_TARGET_DIR:-$PWD/target}/profiling/lunagate
fi

mkdir -p "$OUT"
RUN=$(mktemp -d /tmp/lunagate-profile.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT

wait_url() {
  for _ in $(seq 200); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.05
  done
  echo "nothing answers at $1" >&2
  return 1
}

mkdir -p "$RUN/upstream" "$RUN/lunagate"
sed -e "s#@WORKERS@#1#g" -e "s#@PORT@#$UP_PORT#g" -e "s#@RUNDIR@#$RUN/upstream#g" \
  bench/nginx/upstream.nginx.conf >"$RUN/upstream/nginx.conf"
taskset -c "$LOAD_CPU" nginx -p "$RUN/upstream" -c "$RUN/upstream/nginx.conf" -g 'daemon off;' 2>/dev/null &
PIDS+=($!)
wait_url "http://127.0.0.1:$UP_PORT/"

LUNAGATE_LOG_LEVEL=warn taskset -c "$GW_CPU" "$LG" serve --workers 1 \
  --proxy-listen "127.0.0.1:$LG_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  --proxy-listen-tls off --data-dir "$RUN/lunagate" >"$RUN/lunagate.out" 2>&1 &
LG_PID=$!
PIDS+=("$LG_PID")
A="http://127.0.0.1:$ADMIN_PORT"
wait_url "$A/"
cat >"$RUN/custom-auth.lua" <<'LUA'
local key = kong.request.get_header("x-custom-auth")
if not key then return kong.response.exit(401, {message = "Invalid Credentials"}) end
kong.service.request.clear_header("x-custom-auth")
LUA
curl -sf -o /dev/null -X POST "$A/services" -d name=bench -d "url=http://127.0.0.1:$UP_PORT"
curl -sf -o /dev/null -X POST "$A/services/bench/routes" -d 'paths[]=/'
curl -sf -o /dev/null -X POST "$A/services" -d name=auth -d "url=http://127.0.0.1:$UP_PORT"
curl -sf -o /dev/null -X POST "$A/services/auth/routes" -d 'paths[]=/auth'
curl -sf -o /dev/null -X POST "$A/services/auth/plugins" \
  -F name=pre-function -F "config.access[]=@$RUN/custom-auth.lua"
URL="http://127.0.0.1:$LG_PORT$PATH_"
HDR=()
[ -n "$HEADER" ] && HDR=(-H "$HEADER")
curl -s -o /dev/null -w "lunagate $URL: %{http_code}\n" "${HDR[@]}" "$URL" >&2

echo "warm-up; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "${HDR[@]}" "$URL" >/dev/null

# The profile.
CG=(-g)
[ -n "$CALLGRAPH" ] && CG=(--call-graph "$CALLGRAPH")
taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$((DURATION + 2))s" "${HDR[@]}" "$URL" >"$OUT/wrk.txt" &
WRK=$!
sleep 1
perf record -q "${CG[@]}" -F 2999 -p "$LG_PID" -o "$OUT/perf.data" -- sleep "$DURATION" 2>/dev/null
wait "$WRK"
perf report -i "$OUT/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
  grep -E '^ +[0-9]' | sed -e 's/ \{2,\}- \{2,\}- *$//' -e 's/ *$//' | head -n "$TOP" >"$OUT/report.txt" || true
perf report -i "$OUT/perf.data" --no-children --sort dso --stdio 2>/dev/null |
  grep -E '^ +[0-9]' | sed 's/ *$//' >"$OUT/dso.txt" || true

# Syscalls per request: a separate short run under `perf trace -s`.
t0=$(sed 's/^.*) //' "/proc/$LG_PID/stat" | awk '{print $12 + $13}')
taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d4s "${HDR[@]}" "$URL" >"$OUT/wrk-trace.txt" &
WRK=$!
sleep 1
perf trace -s -p "$LG_PID" -o "$OUT/trace.txt" -- sleep 2 2>/dev/null || true
wait "$WRK"
: "$t0"

echo "== $CASE: wrk during the profile" 
grep -E 'Requests/sec|Latency ' "$OUT/wrk.txt"
echo "== self time by binary"
cat "$OUT/dso.txt"
echo "== top $TOP symbols (self time)"
cat "$OUT/report.txt"
if [ -s "$OUT/trace.txt" ]; then
  echo "== syscalls in 2 s under load (perf trace -s); requests/s during it:"
  grep -E 'Requests/sec' "$OUT/wrk-trace.txt"
  grep -E '^ +[a-z_0-9]+ +[0-9]+' "$OUT/trace.txt" | awk '{ print "  " $1, $2 }' | sort -k2 -n -r | head -15
fi
echo "(perf.data and reports in $OUT)"
