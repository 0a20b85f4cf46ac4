#!/usr/bin/env bash
# llm_vs_llamacpp.sh — quant's packed kernels against llama.cpp on the same weights, a
# TinyLlama-1.1B-shaped model: prompt (P tokens) and decode (G tokens), both engines at the same
# thread count, alternating quant / llama.cpp for ROUNDS rounds; prints the medians, the ratios,
# the bandwidth bound and peak RSS.  A benchmark, not a test.
#
# Where the two files come from (env SOURCE):
#   ptq    (default) what a user of quant does, as issue 12 part 5 describes: an F16 checkpoint
#          (bench/llm_f16_files.py DIR/f16 --shape 1b: random weights of realistic scale),
#          `quant ptq-llm --method rtn --bits W --group-size 32` (DIR/ptq-wW/, the file a user
#          gets: linears W-bit, classifier 8-bit groups of 32, embedding W-bit groups of 32),
#          then `quant export --format gguf` of that file (DIR/ptq-wW.gguf: Q4_0 / Q8_0 linears,
#          Q8_0 output.weight, Q4_0 / Q8_0 token_embd; the same codes, checked by test_gguf and
#          bench/export_1b.sh).  With OWN=1, a third engine: llama.cpp's own Q4_0 of the same F16
#          weights (llama_model_quantize, what llama-quantize runs, through build/bench/llama_quantize
#          from an F16 GGUF: linears and embedding Q4_0, the classifier Q6_K): not the same codes,
#          and 16 MB less classifier a token, but the file a llama.cpp user makes.  quant runs that
#          file too (its Q4_0 linears packed, the Q6_K classifier widened to fp32: 209 MB more a
#          token than llama.cpp reads), so the two engines also meet on one file.
#   numpy  bench/llm_1b_files.py DIR: the codes written by numpy into both formats, with the
#          token embedding and the classifier in F32 in both (262 MB more read per token than
#          ptq's 8-bit classifier; the comparison of sessions 11-15).
#
# Each engine is set against the bandwidth of its own moment (this host's moves between about
# 24 and 73 GB/s within minutes): quant bench measures it just before and after its decode;
# for llama.cpp, build/bench/bench_membw runs just before and after its process.  The ratios
# are the medians of each round's ratio (the two engines' runs of a round are next in time).
#
#   bash bench/llm_vs_llamacpp.sh [DIR (default /tmp/quant-bench-1b)]
#   env: SOURCE=ptq|numpy OWN=0|1 ROUNDS=3 THREADS=2 P=128 G=64 WIDTHS="4 8" NODE_LLAMA_DIR=tests/npm
#        QUANT_DATA_DIR (ptq: wiki.test.raw for ptq-llm's two evaluation windows)
# Needs python3-numpy, node and node-llama-cpp 3.21.1 (tests/npm, scripts/setup.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp/quant-bench-1b}
SOURCE=${SOURCE:-ptq}
ROUNDS=${ROUNDS:-3}; THREADS=${THREADS:-2}; P=${P:-128}; G=${G:-64}; WIDTHS=${WIDTHS:-"4 8"}
QUANT=${QUANT:-build/quant}; MEMBW=${MEMBW:-build/bench/bench_membw}
DATA=${QUANT_DATA_DIR:-../shared/data}
OWN=${OWN:-0}
LIB=${LLAMA_LIB_DIR:-$PWD/tests/npm/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64}
[ -x "$MEMBW" ] || make -s "$MEMBW"
declare -A QF GF # width -> quant file, GGUF file
case $SOURCE in
ptq)
    [ -f "$DIR/f16/model.safetensors" ] || /usr/bin/python3 bench/llm_f16_files.py "$DIR/f16" --shape 1b --no-gguf
    for w in $WIDTHS; do
        QF[$w]=$DIR/ptq-w$w/f16-w${w}g32-rtn.safetensors; GF[$w]=$DIR/ptq-w$w.gguf
        if [ ! -f "${QF[$w]}" ]; then
            # two evaluation windows of 64: ptq-llm needs a text; the benchmark only needs the file
            "$QUANT" ptq-llm --model "$DIR/f16" --eval-text "$DATA/wiki.test.raw" --seq-len 64 --max-windows 2 \
                --calib-samples 2 --method rtn --bits "$w" --group-size 32 --act-bits 0 --tune-epochs 0 --e2e-epochs 0 \
                --save "$DIR/ptq-w$w" > "$DIR/ptq-w$w.log" 2>&1 || { tail -3 "$DIR/ptq-w$w.log" >&2; exit 1; }
        fi
        [ -f "${GF[$w]}" ] || "$QUANT" export --model "${QF[$w]}" --tokenizer "$DIR/f16/tokenizer.json" --format gguf \
            --out "${GF[$w]}" > "$DIR/ptq-w$w-export.log" 2>&1 || { tail -3 "$DIR/ptq-w$w-export.log" >&2; exit 1; }
    done
    if [ "$OWN" = 1 ] && [ ! -f "$DIR/llama-q4_0.gguf" ]; then
        # the same F16 values again (same seed), now with the F16 GGUF llama_model_quantize reads
        [ -f "$DIR/f16/model-f16.gguf" ] || /usr/bin/python3 bench/llm_f16_files.py "$DIR/f16" --shape 1b
        [ -x build/bench/llama_quantize ] || make -s build/bench/llama_quantize
        LD_LIBRARY_PATH="$LIB" build/bench/llama_quantize "$LIB/libllama.v0.4.0.so" "$DIR/f16/model-f16.gguf" \
            "$DIR/llama-q4_0.gguf" 2 "$THREADS" > "$DIR/llama-q4_0.log" 2>&1 || { tail -3 "$DIR/llama-q4_0.log" >&2; exit 1; }
    fi ;;
numpy)
    [ -f "$DIR/w4g32.gguf" ] && [ -f "$DIR/w8g32.safetensors" ] || /usr/bin/python3 bench/llm_1b_files.py "$DIR"
    for w in $WIDTHS; do QF[$w]=$DIR/w${w}g32.safetensors; GF[$w]=$DIR/w${w}g32.gguf; done ;;
*) echo "SOURCE=$SOURCE: expected ptq or numpy" >&2; exit 1 ;;
esac
OUT="$DIR/results-$SOURCE"; mkdir -p "$OUT"; rm -f "$OUT"/*.json "$OUT"/*.bw0 "$OUT"/*.bw1
echo "files: $SOURCE; machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
for r in $(seq 1 "$ROUNDS"); do
    for w in $WIDTHS; do
        "$QUANT" bench --model "${QF[$w]}" --threads "$THREADS" --prompt-tokens "$P" --gen-tokens "$G" \
            --rounds 1 --json "$OUT/quant-w$w-$r.json" | grep -E "^(prompt|decode|bandwidth|memory)" | sed "s/^/  quant w$w round $r: /"
        "$MEMBW" 1024 "$THREADS" > "$OUT/llama-w$w-$r.bw0"
        node bench/llamacpp_bench.mjs "${GF[$w]}" "$THREADS" "$P" "$G" 1 "$OUT/llama-w$w-$r.json" | sed "s/^/  round $r: /"
        "$MEMBW" 1024 "$THREADS" > "$OUT/llama-w$w-$r.bw1"
        if [ "$OWN" = 1 ] && [ "$SOURCE" = ptq ] && [ "$w" = 4 ]; then
            "$MEMBW" 1024 "$THREADS" > "$OUT/own-w$w-$r.bw0"
            node bench/llamacpp_bench.mjs "$DIR/llama-q4_0.gguf" "$THREADS" "$P" "$G" 1 "$OUT/own-w$w-$r.json" | sed "s/^/  round $r: /"
            "$MEMBW" 1024 "$THREADS" > "$OUT/own-w$w-$r.bw1"
            "$QUANT" bench --model "$DIR/llama-q4_0.gguf" --threads "$THREADS" --prompt-tokens "$P" --gen-tokens "$G" \
                --rounds 1 --json "$OUT/qown-w$w-$r.json" | grep -E "^(prompt|decode )" | sed "s/^/  quant on llama.cpp's file, round $r: /"
        fi
    done
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
/usr/bin/python3 - "$OUT" "$WIDTHS" "$DIR/llama-q4_0.gguf" <<'PY'
import glob, json, os, statistics as st, sys
sys.path.insert(0, "bench")
from gguf_tensors_equal import tensors
out, widths, own_file = sys.argv[1], sys.argv[2].split(), sys.argv[3]
med = lambda v: st.median(v) if v else float("nan")
bw = lambda stem: 0.5 * sum(float(open(stem + ".bw%d" % i).read()) for i in (0, 1))  # before and after a llama.cpp run


def ratio_line(label, a, b, note, tail=""):
    """medians of the rounds' prompt and decode ratios a / b (rounds paired in order)"""
    rp = [x["prompt_tokens_per_s"] / y["prompt_tokens_per_s"] for x, y in zip(a, b)]
    rd = [x["decode_tokens_per_s"] / y["decode_tokens_per_s"] for x, y in zip(a, b)]
    print("%-6s %-10s %11.2fx %11.2fx   (%s: prompt %s, decode %s%s)" % ("", label, med(rp), med(rd), note,
          " ".join("%.2f" % x for x in rp), " ".join("%.2f" % x for x in rd), tail))

print("%-6s %-10s %12s %12s %10s %12s %10s %s" % ("width", "engine", "prompt t/s", "decode t/s", "RSS GiB", "bound t/s", "% bound",
      "% bound by round (GB/s)"))
for w in widths:
    q, l, lbw = [], [], []
    for f in sorted(glob.glob(f"{out}/quant-w{w}-*.json")):
        r = f[len(f"{out}/quant-w{w}-"):-5]
        q.append(json.load(open(f)))
        l.append(json.load(open(f"{out}/llama-w{w}-{r}.json")))
        lbw.append(bw(f"{out}/llama-w{w}-{r}"))
    bpt = q[0]["bytes_per_token"]
    qf = [x["decode_fraction_of_bound"] for x in q]
    lf = [x["decode_tokens_per_s"] * bpt / b for x, b in zip(l, lbw)]
    qp, qd = med([x["prompt_tokens_per_s"] for x in q]), med([x["decode_tokens_per_s"] for x in q])
    lp, ld = med([x["prompt_tokens_per_s"] for x in l]), med([x["decode_tokens_per_s"] for x in l])
    print("%-6s %-10s %12.2f %12.2f %10.3f %12.2f %9.0f%% %s" % ("W%s" % w, "quant", qp, qd, med([x["peak_rss_bytes"] for x in q]) / 2**30,
          med([x["decode_bound_tokens_per_s"] for x in q]), 100 * med(qf),
          " ".join("%.0f%% (%.1f)" % (100 * f, x["read_bandwidth_bytes_per_s"] / 1e9) for f, x in zip(qf, q))))
    print("%-6s %-10s %12.2f %12.2f %10.3f %12.2f %9.0f%% %s" % ("", "llama.cpp", lp, ld, med([x["peak_rss_bytes"] for x in l]) / 2**30,
          med([b / bpt for b in lbw]), 100 * med(lf), " ".join("%.0f%% (%.1f)" % (100 * f, b / 1e9) for f, b in zip(lf, lbw))))
    ratio_line("ratio", q, l, "median of the rounds' ratios",
               "; RSS / (weights + KV + activations) = %.3f" % med([x["rss_over_needed"] for x in q]))
    # both engines read the same bytes a token, so the decode ratio is at most 1 / llama.cpp's
    # share of the bound: what a decode at the bound itself would reach
    print("%-6s %-10s %24.2fx   (a decode at 100%% of the bound against llama.cpp: 1 / its share, median of the rounds)" % (
          "", "at bound", med([1 / f for f in lf if f > 0])))
    own = sorted(glob.glob(f"{out}/own-w{w}-*.json"))
    if own:
        # llama-quantize's Q4_0: the same bytes but for the classifier (Q6_K instead of Q8_0)
        f, ts = tensors(own_file)
        cls = [t[4] for t in ts if t[0] == "output.weight"][0]
        f.close()
        obpt = bpt - q[0]["classifier_bytes"] + cls
        o = [json.load(open(x)) for x in own]
        obw = [bw(x[:-5]) for x in own]
        of = [x["decode_tokens_per_s"] * obpt / b for x, b in zip(o, obw)]
        print("%-6s %-10s %12.2f %12.2f %10.3f %12.2f %9.0f%% %s   (llama-quantize Q4_0, %.1f MB a token)" % (
              "", "llama own", med([x["prompt_tokens_per_s"] for x in o]), med([x["decode_tokens_per_s"] for x in o]),
              med([x["peak_rss_bytes"] for x in o]) / 2**30, med([b / obpt for b in obw]), 100 * med(of),
              " ".join("%.0f%% (%.1f)" % (100 * f, b / 1e9) for f, b in zip(of, obw)), obpt / 1e6))
        ratio_line("ratio own", q, o, "quant / llama own, median of the rounds' ratios")
        qo = [json.load(open(x)) for x in sorted(glob.glob(f"{out}/qown-w{w}-*.json"))]
        if qo:  # quant on llama.cpp's own file: the same file for both engines
            print("%-6s %-10s %12.2f %12.2f %10.3f %12.2f %9.0f%%   (quant on llama-quantize's file: its Q6_K classifier widened, %.1f MB a token)" % (
                  "", "quant own", med([x["prompt_tokens_per_s"] for x in qo]), med([x["decode_tokens_per_s"] for x in qo]),
                  med([x["peak_rss_bytes"] for x in qo]) / 2**30, med([x["decode_bound_tokens_per_s"] for x in qo]),
                  100 * med([x["decode_fraction_of_bound"] for x in qo]), qo[0]["bytes_per_token"] / 1e6))
            ratio_line("same file", qo, o, "one file, both engines: median of the rounds' ratios")
PY
