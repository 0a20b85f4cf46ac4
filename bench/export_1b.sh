#!/usr/bin/env bash
# export_1b.sh — how long `quant export` takes on a TinyLlama-1.1B-shaped W4 g32 file
# (bench/llm_1b_files.py), to GGUF and to the GPTQ layout: wall time, CPU time (user + sys)
# and peak RSS from /usr/bin/time -v, ROUNDS rounds alternating the two formats, medians;
# the load average at start and end (the machine may be shared: CPU time is the figure that
# does not depend on it).  The GGUF export is checked tensor by tensor against the GGUF file
# llm_1b_files.py wrote itself from the same codes.  A benchmark, not a test.
#
#   bash bench/export_1b.sh [DIR (default /work/big/tinyllama-1b)]     env: ROUNDS=3 QUANT=build/quant
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/work/big/tinyllama-1b}
ROUNDS=${ROUNDS:-3}; QUANT=${QUANT:-build/quant}
[ -f "$DIR/w4g32.safetensors" ] && [ -f "$DIR/w4g32.gguf" ] || /usr/bin/python3 bench/llm_1b_files.py "$DIR"
[ -f "$DIR/tokenizer.bin" ] || /usr/bin/python3 bench/llm_1b_files.py "$DIR" --tokenizer-only
OUT=$(mktemp -d "${TMPDIR:-/tmp}/export-1b-XXXXXX")
trap 'rm -rf "$OUT"' EXIT
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
for r in $(seq 1 "$ROUNDS"); do
    for fmt in gguf gptq; do
        rm -rf "$OUT/m.$fmt"
        /usr/bin/time -v -o "$OUT/time-$fmt-$r" "$QUANT" export --model "$DIR/w4g32.safetensors" \
            --tokenizer "$DIR/tokenizer.bin" --format $fmt --out "$OUT/m.$fmt" > "$OUT/log-$fmt-$r"
        grep '^wrote' "$OUT/log-$fmt-$r" | sed "s/^/  round $r $fmt: /"
        [ $fmt = gguf ] && [ "$r" = 1 ] && /usr/bin/python3 bench/gguf_tensors_equal.py "$OUT/m.gguf" "$DIR/w4g32.gguf" | sed 's/^/  same tensors as llm_1b_files.py: /'
    done
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
/usr/bin/python3 - "$OUT" <<'PY'
import glob, re, statistics as st, sys
out = sys.argv[1]
def field(text, name):
    m = re.search(r"\t%s: (.*)" % re.escape(name), text)
    return m.group(1).strip()
def secs(s):
    parts = [float(p) for p in s.split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
print("%-6s %10s %14s %12s" % ("format", "wall s", "user+sys s", "peak RSS GB"))
for fmt in ("gguf", "gptq"):
    rows = []
    for f in sorted(glob.glob(f"{out}/time-{fmt}-*")):
        t = open(f).read()
        rows.append((secs(field(t, "Elapsed (wall clock) time (h:mm:ss or m:ss)")),
                     float(field(t, "User time (seconds)")) + float(field(t, "System time (seconds)")),
                     float(field(t, "Maximum resident set size (kbytes)")) / 1e6))
    print("%-6s %10.1f %14.1f %12.2f" % (fmt, st.median(r[0] for r in rows), st.median(r[1] for r in rows),
                                         st.median(r[2] for r in rows)))
PY
