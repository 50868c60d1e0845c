#!/usr/bin/env bash
# Compares lunagate's Lua with PUC lua5.4 on the same scripts, in one run.
# Prints each script's best-of-N wall time and CPU time (user + system)
# for both and the ratios (lunagate / lua5.4; lower is better). On a
# loaded machine the CPU ratio is the one to read. The two interpreters
# run interleaved, so load falls on both alike. Outputs must agree, or the
# script is flagged.
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

# measure CMD... -> "wall_ms cpu_ms" of one run (CPU: user + system)
measure() {
  local TIMEFORMAT='%3R %3U %3S' out
  out=$({ time "$@" >/dev/null 2>&1; } 2>&1 || true)
  awk '{ printf "%d %d\n", $1 * 1000, ($2 + $3) * 1000 }' <<<"$out"
}
min() { if [ -z "$1" ] || [ "$2" -lt "$1" ]; then echo "$2"; else echo "$1"; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }'; }

scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(fib arith methods tables closures format gsub sort_numbers sort_strings concat json)
printf '%-14s %9s %9s %6s %9s %9s %6s  %s\n' script "lua5.4" "lunagate" "wall" "lua5.4" "lunagate" "CPU" output
printf '%-14s %9s %9s %6s %9s %9s %6s\n' "" "wall ms" "wall ms" ratio "CPU ms" "CPU ms" ratio
for s in "${scripts[@]}"; do
  f=bench/lua/$s.lua
  ref=$(lua5.4 "$f" 2>&1 || true); ours=$($LG lua "$f" 2>&1 || true)
  same=same; [ "$ref" = "$ours" ] || same="DIFFERS: lua5.4 '$ref' lunagate '${ours:0:120}'"
  # Interleaved: one run of each at a time.
  aw= ac= bw= bc=
  for _ in $(seq "$RUNS"); do # interleaved: load falls on both alike
    read -r w c < <(measure lua5.4 "$f")
    aw=$(min "$aw" "$w"); ac=$(min "$ac" "$c")
    read -r w c < <(measure "$LG" lua "$f")
    bw=$(min "$bw" "$w"); bc=$(min "$bc" "$c")
  done
  printf '%-14s %9s %9s %6s %9s %9s %6s  %s\n' "$s" "$aw" "$bw" "$(ratio "$aw" "$bw")" \
    "$ac" "$bc" "$(ratio "$ac" "$bc")" "$same"
done
