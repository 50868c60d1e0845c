#!/usr/bin/env bash
# Issue 7's stall figure: the latency a healthy route sees on a worker that
# is also running a spinning function.
#
# One release gateway with --workers 1 and two routes, each with a
# pre-function: /spin runs `while true do end` (stopped by
# --lua-time-limit, a 500), /healthy answers 200 from Lua
# (`kong.response.exit`). First the healthy route alone (the baseline),
# then the same load while SPINNERS clients keep a spinning request in
# flight at all times (each sends the next spin as soon as the last one was
# stopped). Printed for both: requests, p50/p99/max latency (wrk, 1
# connection, DURATION seconds; one request at a time, so every request
# meets the spin), and for the spin phase the spins seen and their status.
# The target (issue 7): healthy latency during the spin at most 100 ms.
#
#   bench/stall.sh                      # builds release, 10 s per phase
#   DURATION=5 SPINNERS=2 bench/stall.sh
#   LUNAGATE_BIN=path/to/lunagate bench/stall.sh   # that binary, no build
#
# Needs wrk and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
SPINNERS=${SPINNERS:-1}
TIME_LIMIT=${TIME_LIMIT:-2s}
CONNS=${CONNS:-1}
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install wrk curl)" >&2; exit 1; }
done
if [ -n "${LUNAGATE_BIN:-}" ]; then
  LG=$LUNAGATE_BIN
else
  cargo build --release -q -p lunagate
  LG=${CARGO_TARGET_DIR:-$PWD/target}/release/lunagate
fi

RUN=$(mktemp -d /tmp/lunagate-stall.XXXXXX)
PIDS=()
cleanup() {
  touch "$RUN/stop"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT

free_port() { # a port nothing listens on (the kernel's pick)
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}
PROXY=$(free_port)
ADMIN=$(free_port)
LUNAGATE_LOG_LEVEL=error "$LG" serve --workers 1 --lua-time-limit "$TIME_LIMIT" \
  --proxy-listen "127.0.0.1:$PROXY" --admin-listen "127.0.0.1:$ADMIN" \
  --data-dir "$RUN/data" >"$RUN/lunagate.out" 2>&1 &
PIDS+=("$!")
A="http://127.0.0.1:$ADMIN"
P="http://127.0.0.1:$PROXY"
for _ in $(seq 200); do curl -s -o /dev/null "$A/" && break; sleep 0.05; done
curl -sf -o /dev/null "$A/" || { echo "the gateway did not start" >&2; cat "$RUN/lunagate.out" >&2; exit 1; }

# route NAME CODE: a service (no upstream is reached), a route at /NAME and
# a pre-function running CODE in access.
route() {
  curl -sf -o /dev/null -X POST "$A/services" -d "name=$1" -d "url=http://127.0.0.1:9/"
  curl -sf -o /dev/null -X POST "$A/services/$1/routes" -d "paths[]=/$1"
  curl -sf -o /dev/null -X POST "$A/services/$1/plugins" -F name=pre-function -F "config.access[]=$2"
}
route healthy "return kong.response.exit(200, 'healthy')"
route spin "while true do end"
[ "$(curl -s "$P/healthy")" = healthy ] || { echo "/healthy does not answer" >&2; exit 1; }

# wrk_phase -> "requests p50_ms p99_ms max_ms errors"
wrk_phase() {
  wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$P/healthy" | awk '
    function ms(v) {
      if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
      if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
      if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
      return v
    }
    /^ +Latency +[0-9]/ { max = ms($4) }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    / requests in / { reqs = $1 }
    /Non-2xx|Socket errors/ { err = err " " $0 }
    END { printf "%d %.3f %.3f %.3f %s\n", reqs, p50, p99, max, (err == "" ? "-" : err) }'
}

echo "lunagate: $LG; --workers 1 --lua-time-limit $TIME_LIMIT; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
wrk -t1 -c"$CONNS" -d1s "$P/healthy" >/dev/null # warm-up
read -r base_n base_p50 base_p99 base_max base_err < <(wrk_phase)

# Spinners: each keeps one spinning request in flight until told to stop.
: >"$RUN/spins"
for _ in $(seq "$SPINNERS"); do
  (while [ ! -e "$RUN/stop" ]; do
    curl -s -o /dev/null -m 120 -w '%{http_code}\n' "$P/spin" >>"$RUN/spins" || echo fail >>"$RUN/spins"
  done) &
  PIDS+=("$!")
done
sleep 0.5 # the spins are running before the measurement starts
read -r spin_n spin_p50 spin_p99 spin_max spin_err < <(wrk_phase)
spins_done_during=$(wc -l <"$RUN/spins")
touch "$RUN/stop"
for p in "${PIDS[@]:1}"; do wait "$p" 2>/dev/null || true; done
PIDS=("${PIDS[0]}")
codes=$(sort "$RUN/spins" | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')

printf '%-28s %9s %9s %9s %9s  %s\n' phase requests "p50 ms" "p99 ms" "max ms" errors
printf '%-28s %9s %9s %9s %9s  %s\n' "healthy alone" "$base_n" "$base_p50" "$base_p99" "$base_max" "$base_err"
printf '%-28s %9s %9s %9s %9s  %s\n' "healthy while $SPINNERS spinning" "$spin_n" "$spin_p50" "$spin_p99" "$spin_max" "$spin_err"
echo "spins stopped while measuring: $spins_done_during; all spins: $codes (500: stopped by the time limit)"
verdict=$(awk -v m="$spin_max" -v p="$spin_p99" 'BEGIN { print (p <= 100 ? "met" : "NOT met") " (p99 " p " ms, max " m " ms)" }')
echo "issue 7 target, healthy latency during a spin <= 100 ms: $verdict"
