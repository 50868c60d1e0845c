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
#
# Method as bench/proxy.sh: each gateway runs one worker pinned to CPU 1,
# the upstream (nginx, 1 worker) and wrk are pinned to CPU 0, keep-alive;
# a warm-up per binary and case, then ROUNDS rounds of DURATION seconds per
# binary and case. "cpu us/req" is the gateway's CPU time per request, the
# figure least disturbed by other load. Needs nginx and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-32}
UP_PORT=${UP_PORT:-28180}
BASE_PORT=${BASE_PORT:-28200}
GW_CPU=${GW_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}

[ $# -ge 1 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
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

cpu_ticks() { # utime + stime of a process (fields 14 and 15 of stat)
  sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
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
    --proxy-listen "127.0.0.1:$proxy" --admin-listen "127.0.0.1:$admin" \
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

CASES=(plain lua)
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
      t0=$(cpu_ticks "${PID[$name]}")
      out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" -H 'x-custom-auth: k' "$(url_of "$name" "$c")")
      t1=$(cpu_ticks "${PID[$name]}")
      rps=$(awk '/Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
      reqs=$(awk '/ requests in / { print $1 }' <<<"$out")
      cpu=$(awk -v d=$((t1 - t0)) -v n="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", d * 1e6 / hz / n }')
      echo "$name $c $rps $cpu" >>"$RESULTS"
      printf 'round %d  %-10s %-6s %8s rps  %6s cpu us/req\n' "$round" "$name" "$c" "$rps" "$cpu" >&2
    done
  done
done

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
spread() { sort -n | awk '{ a[NR] = $1 } END { if (a[1] > 0) printf "%.0f%%", (a[NR] - a[1]) * 100 / a[1] }'; }
echo
printf '%-10s %-6s %9s %12s %9s %10s %12s\n' binary case "rps" "cpu us/req" "spread" "rps ratio" "cpu ratio"
base=${NAMES[0]}
for c in "${CASES[@]}"; do
  br=$(awk -v b="$base" -v c="$c" '$1 == b && $2 == c { print $3 }' "$RESULTS" | median)
  bc=$(awk -v b="$base" -v c="$c" '$1 == b && $2 == c { print $4 }' "$RESULTS" | median)
  for name in "${NAMES[@]}"; do
    r=$(awk -v b="$name" -v c="$c" '$1 == b && $2 == c { print $3 }' "$RESULTS" | median)
    cp=$(awk -v b="$name" -v c="$c" '$1 == b && $2 == c { print $4 }' "$RESULTS" | median)
    sp=$(awk -v b="$name" -v c="$c" '$1 == b && $2 == c { print $4 }' "$RESULTS" | spread)
    printf '%-10s %-6s %9s %12s %9s %10s %12s\n' "$name" "$c" "$r" "$cp" "$sp" \
      "$(awk -v a="$r" -v b="$br" 'BEGIN { printf "%.2fx", a / b }')" \
      "$(awk -v a="$cp" -v b="$bc" 'BEGIN { printf "%.2fx", a / b }')"
  done
done
echo "(spread: (max - min) / min of the cpu us/req over $ROUNDS rounds; ratios to $base)"
