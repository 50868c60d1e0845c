#!/usr/bin/env bash
# lunagate against its peers, all in one run on loopback, and issue 9's
# target table:
#   plain    nginx proxy_pass, HAProxy and lunagate proxying one route;
#   auth     the seed's custom-auth function on the proxied path (header
#            sent): nginx + lua-nginx-module (OpenResty's core, Kong's
#            engine) against lunagate with the same check as a pre-function;
#   401      the same function's 401 path (no header);
#   tls      HTTPS termination, keep-alive: nginx `ssl` against lunagate's
#            TLS listener on the same ECDSA P-256 certificate;
#   tls-hs   the same with `Connection: close` (one handshake per request;
#            wrk resumes each with the server's last ticket: a PSK-DHE
#            handshake, X25519, no certificate; the rate is wrk's, whose
#            CPU is full: bench/PROFILE.md);
#   up       the upstream alone (the ceiling);
#   1m       a 1 MiB response through lunagate, without functions and with
#            a pass-through body_filter function (what running body_filter
#            per chunk costs; not in the default CASES).
#
# lunagate runs twice in every case, as two peers: `lunagate` (the glibc
# release build, target/release/lunagate) and `lunagate-static` (the
# shipped static musl binary, built by .ci/build-static), so both builds'
# ratios come from the same run. STATIC=0 leaves the static one out.
#
# Two modes. `pinned` (the one the targets are read on): every gateway
# runs one worker pinned to CPU GW_CPU, the upstream (nginx, 1 worker) and
# wrk (1 thread) to CPU LOAD_CPU. `all`: gateways, upstream and wrk get
# every core (one worker/thread per core each); reported, no target (on a
# 2-core machine wrk and the upstream compete with the gateway).
#
# Method: keep-alive everywhere; per case and connection count, a 2 s
# warm-up of each peer, then REPS rounds in which every peer of the case
# runs DURATION seconds, in an order that rotates every round (load from
# elsewhere on the machine falls on all peers alike); medians. Printed per
# peer: RPS, p50/p99 latency and the gateway's CPU µs per request (process
# CPU time / requests: the figure least disturbed by other load); then the
# ratios of issue 9's targets, measured in this run.
#
#   bench/proxy.sh                              # both modes, c=32 and 256, 5 x 10 s:
#                                               # ~60 min of measuring after the builds
#   MODES=pinned bench/proxy.sh                 # the target runs only: ~30 min
#   REPS=1 DURATION=3 STATIC=0 bench/proxy.sh   # a quick look, glibc build only
#   MODES=pinned CONNS=32 CASES="plain 401" bench/proxy.sh
#   LUA=0 TLS=0 bench/proxy.sh                  # no function / HTTPS cases
#   LUNAGATE_BIN=… LUNAGATE_STATIC_BIN=… bench/proxy.sh   # given binaries, no build
#
# Needs nginx, libnginx-mod-http-lua, haproxy and wrk (Debian packages),
# and the openssl command for the HTTPS cases' certificate.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-"32 256"}
MODES=${MODES:-"pinned all"}
LUA=${LUA:-1}
TLS=${TLS:-1}
CASES=${CASES:-"up plain auth 401 tls tls-hs"}
GW_CPU=${GW_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
BASE_PORT=${BASE_PORT:-28000}
NCPU=$(nproc)

for tool in nginx haproxy wrk taskset curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "installing $tool" >&2
    (apt-get install -y -q nginx libnginx-mod-http-lua haproxy wrk >/dev/null 2>&1) ||
      { echo "needs $tool: apt-get install nginx libnginx-mod-http-lua haproxy wrk" >&2; exit 1; }
  fi
done
[ "$LUA" = 1 ] || CASES=$(tr ' ' '\n' <<<"$CASES" | grep -vx -e auth -e 401 | xargs)
[ "$TLS" = 1 ] || CASES=$(tr ' ' '\n' <<<"$CASES" | grep -vx -e tls -e tls-hs | xargs)
has_case() { [[ " $CASES " == *" $1 "* ]]; }

if [ -n "${LUNAGATE_BIN:-}" ]; then
  LG=$LUNAGATE_BIN # a given build
else
  cargo build --release -q -p lunagate >/dev/null 2>&1 || cargo build --release -p lunagate
  LG=${CARGO_TARGET_DIR:-$PWD/target}/release/lunagate
fi
# The gateways measured: name -> binary.
LGS=(lunagate)
declare -A LG_BIN=([lunagate]=$LG)
if [ "${STATIC:-1}" = 1 ]; then
  LGS+=(lunagate-static)
  LG_BIN[lunagate-static]=${LUNAGATE_STATIC_BIN:-$(.ci/build-static)}
fi

RUN=$(mktemp -d /tmp/lunagate-bench.XXXXXX)
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap 'stop_all; rm -rf "$RUN"' EXIT

if has_case tls || has_case tls-hs; then
  command -v openssl >/dev/null || { echo "the HTTPS cases need the openssl command (TLS=0 skips them)" >&2; exit 1; }
  mkdir -p "$RUN/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$RUN/tls/key.pem" -out "$RUN/tls/cert.pem" 2>/dev/null
fi
# The same check as nginx-lua.conf's access_by_lua_block, as a pre-function.
cat >"$RUN/custom-auth.lua" <<'LUA'
local key = kong.request.get_header("x-custom-auth")
if not key then return kong.response.exit(401, {message = "Invalid Credentials"}) end
kong.service.request.clear_header("x-custom-auth")
LUA

# start_nginx NAME CONF PORT CPUSET WORKERS [UPSTREAM]
start_nginx() {
  local dir=$RUN/$MODE/$1
  mkdir -p "$dir"
  sed -e "s#@WORKERS@#$5#g" -e "s#@PORT@#$3#g" -e "s#@UP@#${6:-}#g" -e "s#@RUNDIR@#$dir#g" \
    -e "s#@TLSDIR@#$RUN/tls#g" "bench/nginx/$2" >"$dir/nginx.conf"
  taskset -c "$4" nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' 2>"$dir/stderr" &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# start_haproxy PORT CPUSET THREADS UPSTREAM
start_haproxy() {
  local dir=$RUN/$MODE/haproxy
  mkdir -p "$dir"
  sed -e "s#@THREADS@#$3#g" -e "s#@PORT@#$1#g" -e "s#@UP@#$4#g" \
    bench/haproxy/haproxy.cfg >"$dir/haproxy.cfg"
  taskset -c "$2" haproxy -db -f "$dir/haproxy.cfg" >"$dir/out" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

wait_url() { # URL [curl options]
  local url=$1
  shift
  for _ in $(seq 200); do
    if curl -s -o /dev/null "$@" "$url" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing answers at $url" >&2
  return 1
}

# CPU time (ticks) of a process and its child processes (all threads).
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

# wrk_once URL CONNS SECONDS [HEADER] -> "rps p50_ms p99_ms requests"
wrk_once() {
  local hdr=()
  [ -n "${4:-}" ] && hdr=(-H "$4")
  taskset -c "$LOAD_CPUSET" wrk -t"$WRK_THREADS" -c"$2" -d"$3s" --latency "${hdr[@]}" "$1" | awk '
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

# Peers: name -> "url|pid|header".
declare -A PEER
RESULTS=$RUN/results
: >"$RESULTS"

# measure_case CASE CONNS PEER... : interleaved rounds, medians appended to
# $RESULTS as "mode case peer conns rps p50 p99 cpu".
measure_case() {
  local case=$1 c=$2
  shift 2
  local peers=("$@") n=$# raw=$RUN/$MODE/raw
  for p in "${peers[@]}"; do
    IFS='|' read -r url pid hdr <<<"${PEER[$p]}"
    wrk_once "$url" "$c" 2 "$hdr" >/dev/null || true
  done
  : >"$raw"
  for round in $(seq "$REPS"); do
    for k in $(seq 0 $((n - 1))); do
      local p=${peers[$(((k + round) % n))]}
      IFS='|' read -r url pid hdr <<<"${PEER[$p]}"
      local t0=0 t1=0 r a b reqs cpu=-
      [ -n "$pid" ] && t0=$(cpu_ticks "$pid")
      read -r r a b reqs < <(wrk_once "$url" "$c" "$DURATION" "$hdr")
      [ -n "$pid" ] && t1=$(cpu_ticks "$pid")
      if [ -n "$pid" ] && [ "$reqs" -gt 0 ]; then
        cpu=$(awk -v d=$((t1 - t0)) -v n="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
      fi
      echo "$p $r $a $b $cpu" >>"$raw"
    done
  done
  for p in "${peers[@]}"; do
    local col vals=()
    for col in 2 3 4 5; do
      vals+=("$(awk -v p="$p" -v k="$col" '$1 == p { print $k }' "$raw" | median)")
    done
    echo "$MODE $case $p $c ${vals[*]}" >>"$RESULTS"
    printf '%-6s %-6s %-23s c=%-4s %8s rps  p50 %7s ms  p99 %7s ms  cpu %6s us/req\n' \
      "$MODE" "$case" "$p" "$c" "${vals[@]}" >&2
  done
}

# start_lunagate NAME PORT: the gateway LG_BIN[NAME], one route to the
# upstream ($up), the custom-auth function on /auth, the bench certificate
# for every SNI (and the 1m routes); proxy on PORT, admin on PORT+1, TLS on
# PORT+44. Its peers: NAME, NAME-lua, NAME-lua-401, NAME-1m, NAME-1m-bf,
# NAME-tls, NAME-tls-hs.
start_lunagate() {
  local name=$1 lg=$2
  local admin=$((lg + 1)) lg_tls=$((lg + 44))
  mkdir -p "$RUN/$MODE/$name"
  LUNAGATE_LOG_LEVEL=warn taskset -c "$GW_CPUSET" "${LG_BIN[$name]}" serve --workers "$WORKERS" \
    --proxy-listen "127.0.0.1:$lg" --admin-listen "127.0.0.1:$admin" \
    --proxy-listen-tls "127.0.0.1:$lg_tls" \
    --data-dir "$RUN/$MODE/$name" >"$RUN/$MODE/$name.out" 2>&1 &
  local lg_pid=$!
  PIDS+=("$lg_pid")
  PEER[$name]="http://127.0.0.1:$lg/|$lg_pid|"
  PEER[$name-lua]="http://127.0.0.1:$lg/auth|$lg_pid|x-custom-auth: k"
  PEER[$name-lua-401]="http://127.0.0.1:$lg/auth|$lg_pid|"
  PEER[$name-1m]="http://127.0.0.1:$lg/1m|$lg_pid|"
  PEER[$name-1m-bf]="http://127.0.0.1:$lg/1m-bf|$lg_pid|"
  PEER[$name-tls]="https://localhost:$lg_tls/|$lg_pid|"
  PEER[$name-tls-hs]="https://localhost:$lg_tls/|$lg_pid|Connection: close"
  local a="http://127.0.0.1:$admin"
  wait_url "$a/"
  curl -sf -o /dev/null -X POST "$a/services" -d name=bench -d "url=http://127.0.0.1:$up"
  curl -sf -o /dev/null -X POST "$a/services/bench/routes" -d 'paths[]=/'
  curl -sf -o /dev/null -X POST "$a/services" -d name=auth -d "url=http://127.0.0.1:$up"
  curl -sf -o /dev/null -X POST "$a/services/auth/routes" -d 'paths[]=/auth'
  curl -sf -o /dev/null -X POST "$a/services/auth/plugins" \
    -F name=pre-function -F "config.access[]=@$RUN/custom-auth.lua"
  if has_case 1m; then
    curl -sf -o /dev/null -X POST "$a/services" -d name=1m -d "url=http://127.0.0.1:$up/1m"
    curl -sf -o /dev/null -X POST "$a/services/1m/routes" -d 'paths[]=/1m' -d name=1m
    curl -sf -o /dev/null -X POST "$a/services" -d name=1m-bf -d "url=http://127.0.0.1:$up/1m"
    curl -sf -o /dev/null -X POST "$a/services/1m-bf/routes" -d 'paths[]=/1m-bf'
    # Pass-through: reads the chunk and the eof flag, changes nothing.
    curl -sf -o /dev/null -X POST "$a/services/1m-bf/plugins" -F name=post-function \
      -F 'config.body_filter[]=local chunk, eof = ngx.arg[1], ngx.arg[2]'
  fi
  if has_case tls || has_case tls-hs; then
    # The same certificate as nginx's, for every SNI.
    curl -sf -o /dev/null -X POST "$a/certificates" \
      --data-urlencode "cert@$RUN/tls/cert.pem" --data-urlencode "key@$RUN/tls/key.pem" -d 'snis[]=*'
  fi

}

run_mode() {
  MODE=$1
  local off=0
  if [ "$MODE" = pinned ]; then
    GW_CPUSET=$GW_CPU LOAD_CPUSET=$LOAD_CPU WORKERS=1 WRK_THREADS=1
  else
    GW_CPUSET=0-$((NCPU - 1)) LOAD_CPUSET=0-$((NCPU - 1)) WORKERS=$NCPU WRK_THREADS=$NCPU
    off=100
  fi
  local up=$((BASE_PORT + off + 80)) ngx=$((BASE_PORT + off + 81)) ngx_lua=$((BASE_PORT + off + 82))
  local hap=$((BASE_PORT + off + 83)) ngx_tls=$((BASE_PORT + off + 43))
  local lg=$((BASE_PORT + off)) # lunagate-static: +10
  mkdir -p "$RUN/$MODE"
  echo "== $MODE: gateways on CPU $GW_CPUSET with $WORKERS worker(s); upstream and wrk on CPU $LOAD_CPUSET" >&2

  start_nginx upstream upstream.nginx.conf "$up" "$LOAD_CPUSET" "$WORKERS"
  head -c 1048576 /dev/zero | tr '\0' a >"$RUN/$MODE/upstream/1m.bin"
  # nginx's workers (nobody) must reach it through mktemp's 0700 directory.
  chmod 711 "$RUN" "$RUN/$MODE" "$RUN/$MODE/upstream"
  chmod 644 "$RUN/$MODE/upstream/1m.bin"
  PEER[up]="http://127.0.0.1:$up/|$LAST_PID|"
  wait_url "http://127.0.0.1:$up/"
  start_nginx nginx nginx-plain.conf "$ngx" "$GW_CPUSET" "$WORKERS" "127.0.0.1:$up"
  PEER[nginx]="http://127.0.0.1:$ngx/|$LAST_PID|"
  start_haproxy "$hap" "$GW_CPUSET" "$WORKERS" "127.0.0.1:$up"
  PEER[haproxy]="http://127.0.0.1:$hap/|$LAST_PID|"
  if has_case auth || has_case 401; then
    start_nginx nginx-lua nginx-lua.conf "$ngx_lua" "$GW_CPUSET" "$WORKERS" "127.0.0.1:$up"
    PEER[nginx-lua]="http://127.0.0.1:$ngx_lua/|$LAST_PID|x-custom-auth: k"
    PEER[nginx-lua-401]="http://127.0.0.1:$ngx_lua/|$LAST_PID|"
  fi
  if has_case tls || has_case tls-hs; then
    start_nginx nginx-ssl nginx-ssl.conf "$ngx_tls" "$GW_CPUSET" "$WORKERS" "127.0.0.1:$up"
    PEER[nginx-tls]="https://localhost:$ngx_tls/|$LAST_PID|"
    PEER[nginx-tls-hs]="https://localhost:$ngx_tls/|$LAST_PID|Connection: close"
  fi

  start_lunagate lunagate "$lg"
  if [ "${#LGS[@]}" -gt 1 ]; then start_lunagate lunagate-static $((lg + 10)); fi

  # Every peer answers what it should before anything is measured.
  wait_url "http://127.0.0.1:$ngx/"
  wait_url "http://127.0.0.1:$hap/"
  for p in nginx haproxy "${LGS[@]}"; do
    IFS='|' read -r url _ _ <<<"${PEER[$p]}"
    [ "$(curl -s "$url")" = ok ] || { echo "$p does not proxy" >&2; cat "$RUN/$MODE/"*.out >&2; exit 1; }
  done
  if has_case auth || has_case 401; then
    wait_url "http://127.0.0.1:$ngx_lua/"
    for p in nginx-lua "${LGS[@]/%/-lua}"; do
      IFS='|' read -r url _ hdr <<<"${PEER[$p]}"
      [ "$(curl -s -H "$hdr" "$url")" = ok ] || { echo "$p does not let the request through" >&2; exit 1; }
      IFS='|' read -r url _ _ <<<"${PEER[$p-401]}"
      [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 401 ] || { echo "$p does not answer 401" >&2; exit 1; }
    done
  fi
  if has_case 1m; then
    for p in "${LGS[@]/%/-1m}" "${LGS[@]/%/-1m-bf}"; do
      IFS='|' read -r url _ _ <<<"${PEER[$p]}"
      [ "$(curl -s "$url" | wc -c)" = 1048576 ] || { echo "$p does not send the 1 MiB body" >&2; exit 1; }
    done
  fi
  if has_case tls || has_case tls-hs; then
    for p in nginx-tls "${LGS[@]/%/-tls}"; do
      IFS='|' read -r url _ _ <<<"${PEER[$p]}"
      wait_url "$url" --cacert "$RUN/tls/cert.pem"
      [ "$(curl -s --cacert "$RUN/tls/cert.pem" "$url")" = ok ] ||
        { echo "no HTTPS answer with the bench certificate from $p" >&2; exit 1; }
    done
  fi

  for c in $CONNS; do
    for case in $CASES; do
      case $case in
        up) measure_case up "$c" up ;;
        plain) measure_case plain "$c" nginx haproxy "${LGS[@]}" ;;
        auth) measure_case auth "$c" nginx-lua "${LGS[@]/%/-lua}" ;;
        401) measure_case 401 "$c" nginx-lua-401 "${LGS[@]/%/-lua-401}" ;;
        tls) measure_case tls "$c" nginx-tls "${LGS[@]/%/-tls}" ;;
        tls-hs) measure_case tls-hs "$c" nginx-tls-hs "${LGS[@]/%/-tls-hs}" ;;
        1m) measure_case 1m "$c" "${LGS[@]/%/-1m}" "${LGS[@]/%/-1m-bf}" ;;
        *) echo "unknown case $case" >&2; exit 2 ;;
      esac
    done
  done
  stop_all
}

echo "lunagate: $LG${LG_BIN[lunagate-static]:+; lunagate-static: ${LG_BIN[lunagate-static]}}; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg); rustc processes: $(pgrep -c rustc || true)" >&2
for mode in $MODES; do run_mode "$mode"; done

echo
echo "REPS=$REPS DURATION=$DURATION, medians; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-6s %-23s %5s %9s %8s %8s %11s\n' mode case peer conns rps "p50 ms" "p99 ms" "cpu us/req"
while read -r mode case p c r a b cpu; do
  printf '%-6s %-6s %-23s %5s %9s %8s %8s %11s\n' "$mode" "$case" "$p" "$c" "$r" "$a" "$b" "$cpu"
done <"$RESULTS"

# target MODE CONNS LABEL OURS PEER FIELD(rps|p99|cpu) OP(>=|<=) BOUND
# (OURS is a lunagate peer; its build, glibc or static, is printed.)
target() {
  awk -v m="$1" -v c="$2" -v label="$3" -v o="$4" -v p="$5" -v f="$6" -v op="$7" -v bound="$8" '
    BEGIN { k = (f == "rps") ? 5 : (f == "p99") ? 7 : 8; build = (o ~ /^lunagate-static/) ? "static" : "glibc" }
    $1 == m && $4 == c && $3 == o { ours = $k }
    $1 == m && $4 == c && $3 == p { peer = $k }
    END {
      if (ours == "" || peer == "" || ours == "-" || peer == "-" || peer == 0) exit
      r = ours / peer
      met = (op == ">=") ? (r >= bound) : (r <= bound)
      if (f == "cpu") { printf "%-6s c=%-4s %-6s %-36s %6.2fx  (lower is better; no target)\n", m, c, build, label, r; exit }
      if (m != "pinned") verdict = "(no target)"
      else verdict = met ? "met" : "NOT met"
      printf "%-6s c=%-4s %-6s %-36s %6.2fx  target %s %.1fx: %s\n", m, c, build, label, r, op, bound, verdict
    }' "$RESULTS"
}
echo
echo "issue 9 targets (ratios in this run; targets hold on the pinned 1-worker runs):"
for mode in $MODES; do
  for c in $CONNS; do
    for lg in "${LGS[@]}"; do
      if has_case plain; then
        target "$mode" "$c" "plain proxy: rps vs HAProxy" "$lg" haproxy rps ">=" 1.0
        target "$mode" "$c" "plain proxy: p99 vs nginx" "$lg" nginx p99 "<=" 1.0
        target "$mode" "$c" "plain proxy: cpu/req vs HAProxy" "$lg" haproxy cpu "<=" 1.0
        target "$mode" "$c" "plain proxy: cpu/req vs nginx" "$lg" nginx cpu "<=" 1.0
      fi
      if has_case auth; then
        target "$mode" "$c" "custom-auth 200: rps vs nginx+Lua" "$lg-lua" nginx-lua rps ">=" 1.1
        target "$mode" "$c" "custom-auth 200: p99 vs nginx+Lua" "$lg-lua" nginx-lua p99 "<=" 1.0
        target "$mode" "$c" "custom-auth 200: cpu/req" "$lg-lua" nginx-lua cpu "<=" 1.0
      fi
      if has_case 401; then
        target "$mode" "$c" "401 path: rps vs nginx+Lua" "$lg-lua-401" nginx-lua-401 rps ">=" 1.0
        target "$mode" "$c" "401 path: cpu/req" "$lg-lua-401" nginx-lua-401 cpu "<=" 1.0
      fi
      if has_case 1m; then
        target "$mode" "$c" "1 MiB, body_filter: cpu/req vs none" "$lg-1m-bf" "$lg-1m" cpu "<=" 1.0
      fi
      if has_case tls; then
        target "$mode" "$c" "HTTPS keep-alive: rps vs nginx ssl" "$lg-tls" nginx-tls rps ">=" 1.0
        target "$mode" "$c" "HTTPS keep-alive: cpu/req" "$lg-tls" nginx-tls cpu "<=" 1.0
      fi
      if has_case tls-hs; then
        target "$mode" "$c" "HTTPS handshakes: rps vs nginx ssl" "$lg-tls-hs" nginx-tls-hs rps ">=" 1.0
        target "$mode" "$c" "HTTPS handshakes: cpu/req" "$lg-tls-hs" nginx-tls-hs cpu "<=" 1.0
      fi
    done
  done
done
