#!/usr/bin/env bash
# Several lunagate binaries side by side in one run, for choices that only
# the build changes (the global allocator, the libc, the release profile):
# the proxy benchmark's two cases — plain proxying and the seed's
# custom-auth pre-function on the proxied path — against each binary, in
# interleaved rounds so that load from elsewhere on the machine falls on
# all of them alike. Prints medians and ratios to the first binary.
#
#   bench/alloc.sh glibc=target/release/lunagate \
#                  musl=target/x86_64-unknown-linux-musl/release/lunagate
#   ROUNDS=5 DURATION=5 CONNS=32 bench/alloc.sh a=bin1 b=bin2
#   CASES=plain bench/alloc.sh a=bin1 b=bin2      # one case (plain, lua)
#
# Method as bench/proxy.sh: each gateway runs one worker pinned to CPU 1,
# the upstream (nginx, 1 worker) and wrk are pinned to CPU 0, keep-alive;
# a warm-up per binary and case, then ROUNDS rounds of DURATION seconds per
# binary and case. "cpu us/req" is the gateway's CPU time per request, the
# figure least disturbed by other load; it is split into user and system
# time ("usr", "sys"), and "flt/req" counts the gateway's minor page faults
# per request (memory an allocator gave back to the kernel and touches
# again). p50 and p99 are wrk's latency percentiles. A binary given as a
# script that execs the real one (`exec env VAR=value bin "$@"`) measures
# an environment setting, e.g. an allocator option. Needs nginx and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-32}
UP_PORT=${UP_PORT:-28180}
BASE_PORT=${BASE_PORT:-28200}
GW_CPU=${GW_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}

[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2; }
for tool in nginx wrk taskset curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install nginx wrk)" >&2; exit 1; }
done

RUN=$(mktemp -d /tmp/lunagate-alloc.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing answers on port $1" >&2
  return 1
}

counters() { # utime, stime (ticks) and minor faults of a process (stat fields 14, 15, 10)
  sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12, $13, $8}'
}

mkdir -p "$RUN/upstream"
sed -e "s#@WORKERS@#1#g" -e "s#@PORT@#$UP_PORT#g" -e "s#@RUNDIR@#$RUN/upstream#g" \
  bench/nginx/upstream.nginx.conf >"$RUN/upstream/nginx.conf"
taskset -c "$LOAD_CPU" nginx -p "$RUN/upstream" -c "$RUN/upstream/nginx.conf" -g 'daemon off;' \
  2>"$RUN/upstream/stderr" &
PIDS+=($!)
wait_port "$UP_PORT"

# The seed's custom-auth.lua, as a pre-function.
cat >"$RUN/custom-auth.lua" <<'LUA'
local custom_auth = kong.request.get_header("x-custom-auth")
if not custom_auth then
  return kong.response.exit(401, "Invalid Credentials")
end
kong.request.clear_header('x-custom-auth')
LUA

NAMES=()
declare -A PROXY PID
i=0
for spec in "$@"; do
  name=${spec%%=*} bin=${spec#*=}
  [ -x "$bin" ] || { echo "$bin: not an executable" >&2; exit 1; }
  proxy=$((BASE_PORT + 2 * i)) admin=$((BASE_PORT + 2 * i + 1))
  mkdir -p "$RUN/$name"
  LUNAGATE_LOG_LEVEL=warn taskset -c "$GW_CPU" "$bin" serve --workers 1 \
    --proxy-listen "127.0.0.1:$proxy" --admin-listen "127.0.0.1:$admin" --proxy-listen-tls off \
    --data-dir "$RUN/$name" >"$RUN/$name.out" 2>&1 &
  PID[$name]=$!
  PIDS+=($!)
  wait_port "$admin"
  a="http://127.0.0.1:$admin"
  curl -sf -o /dev/null -X POST "$a/services" -d name=plain -d "url=http://127.0.0.1:$UP_PORT"
  curl -sf -o /dev/null -X POST "$a/services/plain/routes" -d 'paths[]=/'
  curl -sf -o /dev/null -X POST "$a/services" -d name=auth -d "url=http://127.0.0.1:$UP_PORT"
  curl -sf -o /dev/null -X POST "$a/services/auth/routes" -d 'paths[]=/auth'
  curl -sf -o /dev/null -X POST "$a/services/auth/plugins" \
    -F name=pre-function -F "config.access[]=@$RUN/custom-auth.lua"
  [ "$(curl -s "http://127.0.0.1:$proxy/")" = ok ] || { echo "$name does not proxy" >&2; exit 1; }
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$proxy/auth")" = 401 ] ||
    { echo "$name: the pre-function does not answer 401" >&2; exit 1; }
  PROXY[$name]=$proxy
  NAMES+=("$name")
  i=$((i + 1))
done

read -r -a CASES <<<"${CASES:-plain lua}"
url_of() { # NAME CASE
  case $2 in
    plain) echo "http://127.0.0.1:${PROXY[$1]}/" ;;
    lua) echo "http://127.0.0.1:${PROXY[$1]}/auth" ;;
  esac
}

RESULTS=$RUN/results
: >"$RESULTS"
for name in "${NAMES[@]}"; do
  for c in "${CASES[@]}"; do
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s -H 'x-custom-auth: k' "$(url_of "$name" "$c")" >/dev/null
  done
done
n=${#NAMES[@]}
for round in $(seq "$ROUNDS"); do
  for k in $(seq 0 $((n - 1))); do
    name=${NAMES[$(((k + round) % n))]} # rotate the order every round
    for c in "${CASES[@]}"; do
      c0=$(counters "${PID[$name]}")
      out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H 'x-custom-auth: k' "$(url_of "$name" "$c")")
      c1=$(counters "${PID[$name]}")
      # rps, requests, p50 and p99 in ms
      read -r rps reqs p50 p99 < <(awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec:/ { rps = $2 }
        / requests in / { n = $1 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        END { printf "%.0f %d %.3f %.3f\n", rps, n, p50, p99 }' <<<"$out")
      read -r cpu usr sys flt < <(awk -v a="$c0" -v b="$c1" -v n="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        split(a, x, " "); split(b, y, " "); u = (y[1] - x[1]) * 1e6 / hz / n; s = (y[2] - x[2]) * 1e6 / hz / n
        printf "%.2f %.2f %.2f %.3f\n", u + s, u, s, (y[3] - x[3]) / n }')
      echo "$name $c $rps $cpu $usr $sys $flt $p50 $p99 $round" >>"$RESULTS"
      printf 'round %d  %-10s %-6s %8s rps  %6s cpu us/req (usr %s sys %s)  %s flt/req  p50 %s p99 %s ms\n' \
        "$round" "$name" "$c" "$rps" "$cpu" "$usr" "$sys" "$flt" "$p50" "$p99" >&2
    done
  done
done

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
spread() { sort -n | awk '{ a[NR] = $1 } END { if (a[1] > 0) printf "%.0f%%", (a[NR] - a[1]) * 100 / a[1] }'; }
col() { # NAME CASE FIELD -> that field's values
  awk -v b="$1" -v c="$2" -v f="$3" '$1 == b && $2 == c { print $f }' "$RESULTS"
}
paired() { # NAME CASE BASE -> min-max over the rounds of NAME's cpu us/req / BASE's, same round
  awk -v b="$1" -v c="$2" -v z="$3" '$2 == c && $1 == b { x[$10] = $4 } $2 == c && $1 == z { y[$10] = $4 }
    END { lo = 1e9; hi = 0; for (r in x) if (y[r] > 0) { q = x[r] / y[r]; if (q < lo) lo = q; if (q > hi) hi = q }
          printf "%.2f-%.2f", lo, hi }' "$RESULTS"
}
echo
printf '%-10s %-6s %8s %10s %6s %6s %8s %7s %7s %7s %7s %7s %10s\n' binary case rps "cpu us/req" usr sys "flt/req" "p50 ms" "p99 ms" spread "rps x" "cpu x" "cpu x/rnd"
base=${NAMES[0]}
for c in "${CASES[@]}"; do
  br=$(col "$base" "$c" 3 | median)
  bc=$(col "$base" "$c" 4 | median)
  for name in "${NAMES[@]}"; do
    r=$(col "$name" "$c" 3 | median)
    cp=$(col "$name" "$c" 4 | median)
    printf '%-10s %-6s %8s %10s %6s %6s %8s %7s %7s %7s %7s %7s %10s\n' "$name" "$c" "$r" "$cp" \
      "$(col "$name" "$c" 5 | median)" "$(col "$name" "$c" 6 | median)" "$(col "$name" "$c" 7 | median)" \
      "$(col "$name" "$c" 8 | median)" "$(col "$name" "$c" 9 | median)" "$(col "$name" "$c" 4 | spread)" \
      "$(awk -v a="$r" -v b="$br" 'BEGIN { printf "%.2fx", a / b }')" \
      "$(awk -v a="$cp" -v b="$bc" 'BEGIN { printf "%.2fx", a / b }')" "$(paired "$name" "$c" "$base")"
  done
done
echo "(medians of $ROUNDS rounds; spread: (max - min) / min of the cpu us/req; ratios to $base, of the medians"
echo " and, cpu x/rnd, the lowest and highest of the same round's ratio)"
