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

if command -v pip >/dev/null; then pip=(pip); else pip=(python3 -m pip); fi
"${pip[@]}" download --quiet --no-deps --no-binary :all: lupa==2.8 -d "$work" >&2
archive=$(ls "$work"/lupa-2.8.tar.gz)
tar -xzf "$archive" -C "$work" --wildcards '*/third-party/lua54/testes/*'
mkdir -p "$dest"
cp -R "$work"/lupa-2.8/third-party/lua54/testes/. "$dest"/
echo "$dest"
