#!/usr/bin/env bash
# The static binary in an empty root, as it runs in the `FROM scratch`
# image: a directory holding only the binary and an empty data directory,
# entered with chroot (as root; with `unshare -r` otherwise), an empty
# environment but for LUNAGATE_* variables, a non-root user as in the
# Dockerfile. No /etc, no /proc, no /dev, no /tmp, no /usr/share/zoneinfo.
#
# Against that process, with curl: the seed's whole demonstration (service,
# route, the pre-function uploaded from a file with --form, 401 without the
# header, 200 with it, the header stripped upstream), a restart on the same
# data directory, a backup with GET /config and a restore into an emptied
# data directory with POST /config. Then the binary's size and the idle RSS
# for 1, 2, 4 and 8 workers, against the targets below.
#
#   tests/scratch.sh [BINARY]   # default: the musl release build
#
# Needs curl and python3 (the upstream: a real HTTP server outside the
# root that echoes the request headers as JSON). .ci/run runs it on the
# binary built by the Dockerfile's build command (.ci/build-static).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-musl/release/lunagate}
MAX_BINARY_BYTES=15000000 # 15 MB
MAX_IDLE_RSS_KB=20000     # 20 MB, one worker
USER_ID=65532             # the Dockerfile's USER

[ -x "$BIN" ] || { echo "scratch: no binary at $BIN (build it with .ci/build-static)" >&2; exit 1; }
BIN=$(realpath "$BIN")
for tool in curl python3 chroot; do
  command -v "$tool" >/dev/null || { echo "scratch: needs $tool" >&2; exit 1; }
done

RUN=$(mktemp -d /tmp/lunagate-scratch.XXXXXX)
ROOT=$RUN/root
GW=""
UP=""
cleanup() {
  [ -n "$GW" ] && kill "$GW" 2>/dev/null || true
  [ -n "$UP" ] && kill "$UP" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT

passed=0 failed=0
check() { # DESCRIPTION CONDITION...
  if "${@:2}"; then
    passed=$((passed + 1)); echo "ok    $1"
  else
    failed=$((failed + 1)); echo "FAIL  $1"
  fi
}
contains() { grep -qF -- "$2" <<<"$1"; }
lacks() { ! grep -qiF -- "$2" <<<"$1"; }
status_of() { head -1 <<<"$1" | awk '{print $2}'; }

# The empty root.
mkdir -p "$ROOT/data"
cp "$BIN" "$ROOT/lunagate"
if [ "$(id -u)" = 0 ]; then
  chown "$USER_ID:$USER_ID" "$ROOT/data"
  ENTER=("$(command -v chroot)" --userspec="$USER_ID:$USER_ID" "$ROOT")
else
  ENTER=("$(command -v unshare)" --map-root-user "$(command -v chroot)" "$ROOT")
fi

# The upstream, outside the root: echoes path and headers as JSON.
cat >"$RUN/upstream.py" <<'PY'
import http.server, json, sys

class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps({
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
python3 "$RUN/upstream.py" >"$RUN/upstream.port" &
UP=$!
for _ in $(seq 100); do [ -s "$RUN/upstream.port" ] && break; sleep 0.05; done
UP_PORT=$(cat "$RUN/upstream.port")

# start [WORKERS]: lunagate serve in the empty root, on ephemeral ports
# (it prints the addresses it bound); sets GW, ADMIN and PROXY.
start() {
  local workers=()
  [ -n "${1:-}" ] && workers=(--workers "$1")
  : >"$RUN/out"
  env -i LUNAGATE_DATA_DIR=/data LUNAGATE_LOG_LEVEL=warn \
    LUNAGATE_PROXY_LISTEN=127.0.0.1:0 LUNAGATE_ADMIN_LISTEN=127.0.0.1:0 \
    LUNAGATE_PROXY_LISTEN_TLS=127.0.0.1:0 \
    "${ENTER[@]}" /lunagate serve "${workers[@]}" >"$RUN/out" 2>>"$RUN/err" &
  GW=$!
  for _ in $(seq 200); do
    [ "$(wc -l <"$RUN/out")" -ge 2 ] && break
    kill -0 "$GW" 2>/dev/null || { cat "$RUN/err" >&2; echo "scratch: lunagate exited" >&2; exit 1; }
    sleep 0.05
  done
  PROXY=http://$(awk '/proxy listening on/ { print $NF }' "$RUN/out")
  ADMIN=http://$(awk '/admin listening on/ { print $NF }' "$RUN/out")
  [ "$PROXY" != http:// ] && [ "$ADMIN" != http:// ] || { cat "$RUN/err" >&2; exit 1; }
}

# stop: SIGTERM, and the exit status of a clean shutdown.
stop() {
  kill -TERM "$GW"
  local status=0
  wait "$GW" || status=$?
  GW=""
  return "$status"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$GW/status"; }

echo "scratch: $BIN in an empty root ($ROOT), upstream on :$UP_PORT"
start
cd "$RUN"

# 1. A service, 2. a route (the seed's commands, a local upstream).
out=$(curl -si -X POST "$ADMIN/services/" \
  --data "name=plugin-testing" \
  --data "url=http://127.0.0.1:$UP_PORT/headers")
check "1. service created (201)" test "$(status_of "$out")" = 201
out=$(curl -si -X POST "$ADMIN/services/plugin-testing/routes" \
  --data "paths[]=/test")
check "2. route created (201)" test "$(status_of "$out")" = 201

# 3.-5. custom-auth.lua, uploaded from the file with --form.
cat >custom-auth.lua <<'LUA'
-- Get list of request headers
local custom_auth = kong.request.get_header("x-custom-auth")

-- Terminate request early if our custom authentication header
-- does not exist
if not custom_auth then
  return kong.response.exit(401, "Invalid Credentials")
end

-- Remove custom authentication header from request
kong.request.clear_header('x-custom-auth')
LUA
out=$(curl -si -X POST "$ADMIN/services/plugin-testing/plugins" \
  --form "name=pre-function" \
  --form "config.access[]=@custom-auth.lua")
check "5. pre-function uploaded from the file (201)" test "$(status_of "$out")" = 201

demo() { # the seed's steps 6 and 7, after WHAT
  local out
  out=$(curl -si "$PROXY/test")
  check "6. no header: 401 Invalid Credentials ($1)" \
    eval '[ "$(status_of "$out")" = 401 ] && contains "$out" "Invalid Credentials"'
  out=$(curl -si "$PROXY/test" --header "x-custom-auth: key")
  check "7. with the header: 200 from the upstream ($1)" \
    eval '[ "$(status_of "$out")" = 200 ] && contains "$out" "\"path\": \"/headers\""'
  check "7. the header was stripped upstream ($1)" lacks "$out" "x-custom-auth"
}
demo "first start"

# An upstream named localhost: resolved without /etc/hosts or DNS.
curl -s -o /dev/null -X POST "$ADMIN/services" -d name=local -d "url=http://localhost:$UP_PORT/by-name"
curl -s -o /dev/null -X POST "$ADMIN/services/local/routes" -d 'paths[]=/local'
out=$(curl -si --max-time 5 "$PROXY/local")
check "an upstream named localhost is reached without /etc/hosts" \
  eval '[ "$(status_of "$out")" = 200 ] && contains "$out" "/by-name"'

# Restart on the same data directory.
check "SIGTERM: clean exit" stop
start
out=$(curl -si "$ADMIN/services/plugin-testing")
check "restart: the service is still there" test "$(status_of "$out")" = 200
demo "after a restart"

# Backup while running, then restore into an emptied data directory.
curl -sf "$ADMIN/config" -o backup.json
check "backup: GET /config is a declarative config" \
  grep -q '"_format_version":"3.0"' backup.json
stop
find "$ROOT/data" -mindepth 1 -delete
start
check "wiped: no route any more" test "$(curl -s -o /dev/null -w '%{http_code}' "$PROXY/test")" = 404
out=$(curl -si -X POST "$ADMIN/config" -F config=@backup.json)
check "restore: POST /config (201)" test "$(status_of "$out")" = 201
demo "after a restore"
stop

check "nothing written outside the data directory" \
  test "$(cd "$ROOT" && find . -mindepth 1 -not -path './data/*' | sort | tr '\n' ' ')" = "./data ./lunagate "

# Size and idle RSS.
size=$(stat -c %s "$BIN")
echo "binary: $size bytes"
check "binary <= $MAX_BINARY_BYTES bytes" test "$size" -le "$MAX_BINARY_BYTES"
for workers in 1 2 4 8; do
  start "$workers"
  sleep 1
  fresh=$(rss_kb)
  for _ in $(seq 20); do
    curl -s -o /dev/null "$PROXY/test" --header "x-custom-auth: key"
    curl -s -o /dev/null "$PROXY/test"
  done
  sleep 1
  served=$(rss_kb)
  echo "idle RSS, $workers worker(s): $fresh kB after start, $served kB after 40 requests"
  if [ "$workers" = 1 ]; then
    check "idle RSS with one worker <= $MAX_IDLE_RSS_KB kB" test "$served" -le "$MAX_IDLE_RSS_KB"
  fi
  stop
done

if [ -s "$RUN/err" ]; then
  echo "lunagate's stderr:"
  sed 's/^/  /' "$RUN/err"
fi
echo "scratch: $passed passed, $failed failed"
[ "$failed" = 0 ]
