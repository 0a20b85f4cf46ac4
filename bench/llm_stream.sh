#!/usr/bin/env bash
# llm_stream.sh — the streamed quantizer (issue 17 part 1) on big F16 models, beside its peer
# and its bound.  A benchmark, not a test: figures vary with the machine's load (printed).
#
#   bash bench/llm_stream.sh rtn  [DIR]   RTN W4 g32 of a TinyLlama-1.1B-shaped F16 model:
#        quant (build/bench/bench_stream: quantize + write, as llama-quantize does), llama.cpp's
#        llama_model_quantize making Q4_0 from an F16 GGUF of the same weights
#        (build/bench/llama_quantize + node-llama-cpp's libllama), and the bound: reading the
#        F16 file and writing as many bytes as quant's output (cat + head -c + sync), all
#        alternating for ROUNDS rounds; medians and ratios of wall, user+sys and peak RSS.
#   bash bench/llm_stream.sh gptq [DIR] [WINDOWS] [SEQ] [GROUP]   GPTQ W4 (streamed), one run.
#
# DIR defaults to /work/big/a17/tl1b-f16 (bench/llm_f16_files.py DIR --shape 1b writes it);
# env: ROUNDS=3 THREADS=2 LLAMA_LIB_DIR=tests/npm/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
#      OUT=DIR for the outputs (default beside the model); BASE=another bench_stream binary, timed too
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-rtn}
DIR=${2:-/work/big/a17/tl1b-f16}
ROUNDS=${ROUNDS:-3}; THREADS=${THREADS:-2}
LIB=${LLAMA_LIB_DIR:-$PWD/tests/npm/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64}
OUT=${OUT:-$(dirname "$DIR")/stream-bench}; mkdir -p "$OUT" # env OUT: another directory for the outputs
[ -f "$DIR/model.safetensors" ] || { echo "no $DIR/model.safetensors: python3 bench/llm_f16_files.py $DIR"; exit 1; }
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
# timed NAME CMD...: /usr/bin/time -v, one line of wall / cpu / rss appended to $OUT/times.txt
timed() {
    local name=$1; shift
    /usr/bin/time -v "$@" > "$OUT/$name.out" 2> "$OUT/$name.time"
    local wall cpu rss
    wall=$(awk -F': ' '/Elapsed/ {n = split($2, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s}' "$OUT/$name.time")
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$OUT/$name.time")
    rss=$(awk -F': ' '/Maximum resident/ {print $2 * 1024}' "$OUT/$name.time")
    echo "${name%%-*} $wall $cpu $rss" >> "$OUT/times.txt"
    printf "  %-12s wall %7.2f s  user+sys %7.2f s  peak RSS %6.3f GiB  (load %s)\n" "$name" "$wall" "$cpu" \
        "$(echo "$rss / 1073741824" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
}
echo "machine: $(nproc) cores, $THREADS threads, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
rm -f "$OUT/times.txt"
if [ "$MODE" = rtn ]; then
    [ -f "$DIR/model-f16.gguf" ] || { echo "no $DIR/model-f16.gguf (llm_f16_files.py without --no-gguf)"; exit 1; }
    for r in $(seq 1 "$ROUNDS"); do
        echo "round $r"
        timed "quant-$r" build/bench/bench_stream "$DIR" "$OUT/rtn.safetensors" rtn 4 32
        if [ -n "${BASE:-}" ]; then # another build's bench_stream (before / after a change), same output checked
            timed "base-$r" "$BASE" "$DIR" "$OUT/base.safetensors" rtn 4 32
            cmp -s "$OUT/rtn.safetensors" "$OUT/base.safetensors" || echo "  base and quant outputs DIFFER"
        fi
        timed "llama-$r" env LD_LIBRARY_PATH="$LIB" build/bench/llama_quantize "$LIB/libllama.v0.4.0.so" \
            "$DIR/model-f16.gguf" "$OUT/q4_0.gguf" 2 "$THREADS"
        bytes=$(stat -c %s "$OUT/rtn.safetensors")
        timed "bound-$r" sh -c "cat '$DIR/model.safetensors' > /dev/null && head -c $bytes '$DIR/model.safetensors' > '$OUT/bound.bin' && sync '$OUT/bound.bin'"
    done
    echo "quant output $(stat -c %s "$OUT/rtn.safetensors") bytes, llama.cpp Q4_0 $(stat -c %s "$OUT/q4_0.gguf") bytes"
    rm -f "$OUT/bound.bin" "$OUT/base.safetensors"
else
    W=${3:-128}; SEQ=${4:-256}; G=${5:-32}
    timed "gptq-1" build/bench/bench_stream "$DIR" "$OUT/gptq.safetensors" gptq 4 "$G" "$W" "$SEQ" \
        "${TEXT:-../shared/data/wiki.test.raw}" "$DIR"
    cat "$OUT/gptq-1.out"
fi
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
/usr/bin/python3 - "$OUT/times.txt" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for name, wall, cpu, rss in rows:
    by.setdefault(name, []).append((float(wall), float(cpu), float(rss)))
med = {k: [st.median(x[i] for x in v) for i in range(3)] for k, v in by.items()}
print("%-8s %6s %12s %14s %12s" % ("run", "n", "wall s", "user+sys s", "RSS GiB"))
for k, (w, c, r) in med.items():
    print("%-8s %6d %12.2f %14.2f %12.3f" % (k, len(by[k]), w, c, r / 2**30))
if "quant" in med and "llama" in med:
    q, l, b = med["quant"], med["llama"], med.get("bound")
    print("quant / llama.cpp: wall %.2fx, user+sys %.2fx, peak RSS %.2fx" % (q[0] / l[0], q[1] / l[1], q[2] / l[2]))
    if b:
        print("quant / bound (read F16 + write output): wall %.2fx" % (q[0] / b[0]))
    if "base" in med:
        z = med["base"]
        print("quant / base: wall %.2fx, user+sys %.2fx, peak RSS %.2fx" % (q[0] / z[0], q[1] / z[1], q[2] / z[2]))
        if b:
            print("base / bound: wall %.2fx" % (z[0] / b[0]))
PY
