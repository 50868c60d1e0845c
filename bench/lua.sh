#!/usr/bin/env bash
# Compares lunagate's Lua with PUC lua5.4 on the same scripts, in one run.
# Prints each script's best-of-N wall time for both and the ratio
# (lunagate / lua5.4; lower is better). Outputs must agree, or the script
# is flagged.
#
#   bench/lua.sh            # builds release, 3 runs each
#   RUNS=5 bench/lua.sh fib gsub
#   LUNAGATE_BIN=path/to/lunagate bench/lua.sh   # that binary, no build
#
# lua-stdlib (our VM) runs the same scripts in
# `cargo bench -p lua-stdlib --bench scripts`, with CPU-time ratios too.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
command -v lua5.4 >/dev/null || { echo "needs lua5.4 (apt-get install lua5.4)"; exit 1; }
if [ -n "${LUNAGATE_BIN:-}" ]; then
  LG=$LUNAGATE_BIN
else
  cargo build --release -q
  LG=target/release/lunagate
fi
echo "load average $(cut -d' ' -f1-3 /proc/loadavg); $LG"

best() { # best wall time in ms of "$@" over RUNS runs
  local best=
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N)
    local ms=$(( (t1 - t0) / 1000000 ))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  echo "$best"
}

scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(fib arith methods tables closures format gsub sort_numbers sort_strings concat json)
printf '%-14s %10s %10s %8s  %s\n' script "lua5.4 ms" "lunagate ms" ratio output
for s in "${scripts[@]}"; do
  f=bench/lua/$s.lua
  ref=$(lua5.4 "$f" 2>&1 || true); ours=$($LG lua "$f" 2>&1 || true)
  same=same; [ "$ref" = "$ours" ] || same="DIFFERS: lua5.4 '$ref' lunagate '${ours:0:120}'"
  a=$(best lua5.4 "$f"); b=$(best "$LG" lua "$f")
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }')
  printf '%-14s %10s %10s %8s  %s\n' "$s" "$a" "$b" "$ratio" "$same"
done
