#!/usr/bin/env bash
# tests/fuzz/seeds.sh BUILD [OUTDIR] — writes the seed corpora (one directory per harness) with
# the project's own writers (BUILD/fuzz/seeds, from seeds.c); OUTDIR defaults to BUILD/fuzz-seeds.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=${2:-$build/fuzz-seeds}
tmp=$out.tmp.$$
rm -rf "$tmp"
mkdir -p "$tmp"
QUANT_DATA_DIR=${QUANT_DATA_DIR:-$(cd .. && pwd)/shared/data} ASAN_OPTIONS=detect_leaks=0 "$build/fuzz/seeds" "$tmp"
rm -rf "$out"
mv "$tmp" "$out"
echo "seeds.sh: $(find "$out" -type f | wc -l) seeds in $out" >&2
