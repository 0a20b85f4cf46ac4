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
# parquet: files written by the npm writers (tests/npm/parquet_write.mjs) from a small made-up
# text, every page kind and codec the reader takes; skipped when node or tests/npm is missing
if command -v node >/dev/null && [ -d tests/npm/node_modules/parquet-wasm ]; then
    mkdir -p "$tmp/parquet"
    printf ' \n = Title = \n \n Some text , with @-@ marks and 3 @.@ 5 numbers . \n \n = = Part = = \n \n More text . \n' > "$tmp/src.txt"
    for v in "rs-v1-snappy --pages v1" "rs-v1-none --pages v1 --codec none" "rs-v2-snappy --pages v2" \
             "rs-v1-plain --pages v1 --dict off --row-group 3" "rs-v2-none-plain --pages v2 --codec none --dict off" \
             "hy-v2-snappy --writer hyparquet --row-group 4" "hy-v2-none --writer hyparquet --codec none --dict off" \
             "hy-null --writer hyparquet --null-row 2"; do
        set -- $v
        name=$1; shift
        node tests/npm/parquet_write.mjs "$tmp/src.txt" "$tmp/parquet/$name" "$@" >/dev/null
    done
    rm -f "$tmp/src.txt"
fi
rm -rf "$out"
mv "$tmp" "$out"
echo "seeds.sh: $(find "$out" -type f | wc -l) seeds in $out" >&2
