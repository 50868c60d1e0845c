#!/usr/bin/env bash
# Downloads the official Lua 5.4 test suite (Lua 5.4.8's testes/, MIT
# licensed) from PyPI's lupa 2.8 source distribution into a temporary
# directory and prints that directory. The suite is never committed.
#
#   dir=$(conformance/fetch-official.sh)      # or: fetch-official.sh DEST
#   conformance/run-suite.sh "$dir"
set -euo pipefail

dest=${1:-$(mktemp -d -t lua54-testes.XXXXXX)}
work=$(mktemp -d -t lupa-sdist.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The sdist straight from the package index (its link carries the sha256,
# checked here); `pip download` only as a fallback: it builds the package's
# metadata first, which is slow and timed out on a loaded machine.
direct() {
  local link
  link=$(curl -fsS -m 60 https://pypi.org/simple/lupa/ |
    grep -o 'https://[^"]*/lupa-2\.8\.tar\.gz#sha256=[0-9a-f]*' | head -n 1) || return 1
  [ -n "$link" ] || return 1
  curl -fsS -m 300 -o "$work/lupa-2.8.tar.gz" "${link%%#*}" || return 1
  echo "${link##*sha256=}  $work/lupa-2.8.tar.gz" | sha256sum -c --quiet - >&2
}
if ! direct; then
  rm -f "$work/lupa-2.8.tar.gz"
  if command -v pip >/dev/null; then pip=(pip); else pip=(python3 -m pip); fi
  "${pip[@]}" download --quiet --no-deps --no-binary :all: lupa==2.8 -d "$work" >&2
fi
archive=$(ls "$work"/lupa-2.8.tar.gz)
tar -xzf "$archive" -C "$work" --wildcards '*/third-party/lua54/testes/*'
mkdir -p "$dest"
cp -R "$work"/lupa-2.8/third-party/lua54/testes/. "$dest"/
echo "$dest"
