#!/usr/bin/env bash
# Runs every *.lua file of a directory (e.g. the official Lua 5.4 test
# suite's testes/) on lunagate's Lua, one process per file, from inside the
# directory (so `require` finds helper modules), with `_port=true;
# _soft=true` preset exactly as `lua -e "_port=true; _soft=true" FILE` does.
# Prints a per-file table and, last, `N passed, M failed`.
#
#   conformance/run-suite.sh DIR
#
# Environment:
#   LUA       the interpreter command (default: target/release/lunagate lua,
#             else the lua-stdlib example target/{release,debug}/examples/lua)
#   TIMEOUT   seconds per file (default 120)
#   SKIP      space-separated file names to leave out (e.g. "main.lua api.lua")
set -uo pipefail

dir=${1:?usage: run-suite.sh DIR}
dir=$(cd "$dir" && pwd) || exit 2
root=$(cd "$(dirname "$0")/.." && pwd)
timeout_s=${TIMEOUT:-120}

if [ -z "${LUA:-}" ]; then
  if [ -x "$root/target/release/lunagate" ]; then
    LUA="$root/target/release/lunagate lua"
  elif [ -x "$root/target/release/examples/lua" ]; then
    LUA="$root/target/release/examples/lua"
  elif [ -x "$root/target/debug/examples/lua" ]; then
    LUA="$root/target/debug/examples/lua"
  else
    echo "no interpreter: build lunagate (cargo build --release) or set LUA" >&2
    exit 2
  fi
fi
read -r -a lua_cmd <<<"$LUA"
# Files run from inside DIR: make a relative interpreter path absolute.
case "${lua_cmd[0]}" in
  /*) ;;
  */*) lua_cmd[0]="$(pwd)/${lua_cmd[0]}" ;;
esac

passed=0
failed=0
printf '%-18s %-8s %7s  %s\n' file result seconds detail
for path in "$dir"/*.lua; do
  [ -e "$path" ] || continue
  file=$(basename "$path")
  case " ${SKIP:-} " in *" $file "*) printf '%-18s %-8s %7s  %s\n' "$file" skipped - "";
    continue ;; esac
  start=$(date +%s.%N)
  out=$(cd "$dir" && timeout "$timeout_s" "${lua_cmd[@]}" -e "_port=true; _soft=true" "$file" 2>&1 </dev/null)
  status=$?
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  if [ $status -eq 0 ]; then
    result=pass
    detail=""
    passed=$((passed + 1))
  else
    if [ $status -eq 124 ]; then result=timeout; else result=FAIL; fi
    detail=$(printf '%s\n' "$out" | grep -v '^\s*$' | tail -n 1 | cut -c1-110)
    failed=$((failed + 1))
  fi
  printf '%-18s %-8s %7s  %s\n' "$file" "$result" "$secs" "$detail"
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
