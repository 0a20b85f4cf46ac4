#!/usr/bin/env bash
# llm_vs_llamacpp.sh — quant's packed kernels against llama.cpp on the same weights: a
# TinyLlama-1.1B-shaped model (bench/llm_1b_files.py writes W4 g32 / W8 g32 quant-llm files and
# GGUF Q4_0 / Q8_0 files from one set of codes), prompt (P tokens) and decode (G tokens), both
# engines at the same thread count, alternating quant / llama.cpp for ROUNDS rounds; prints
# the medians, the ratios, the bandwidth bound and peak RSS.  A benchmark, not a test.
#
# Each engine is set against the bandwidth of its own moment (this host's moves between about
# 36 and 73 GB/s within minutes): quant bench measures it just before and after its decode;
# for llama.cpp, build/bench/bench_membw runs just before and after its process.  The ratios
# are the medians of each round's ratio (the two engines' runs of a round are next in time).
#
#   bash bench/llm_vs_llamacpp.sh [DIR (default /tmp/quant-bench-1b)]
#   env: ROUNDS=3 THREADS=2 P=128 G=64 WIDTHS="4 8" NODE_LLAMA_DIR=tests/npm
# Needs python3-numpy, node and node-llama-cpp 3.21.1 (tests/npm, scripts/setup.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp/quant-bench-1b}
ROUNDS=${ROUNDS:-3}; THREADS=${THREADS:-2}; P=${P:-128}; G=${G:-64}; WIDTHS=${WIDTHS:-"4 8"}
QUANT=${QUANT:-build/quant}; MEMBW=${MEMBW:-build/bench/bench_membw}
[ -x "$MEMBW" ] || make -s "$MEMBW"
[ -f "$DIR/w4g32.gguf" ] && [ -f "$DIR/w8g32.safetensors" ] || /usr/bin/python3 bench/llm_1b_files.py "$DIR"
OUT="$DIR/results"; mkdir -p "$OUT"; rm -f "$OUT"/*.json "$OUT"/*.bw0 "$OUT"/*.bw1
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
for r in $(seq 1 "$ROUNDS"); do
    for w in $WIDTHS; do
        "$QUANT" bench --model "$DIR/w${w}g32.safetensors" --threads "$THREADS" --prompt-tokens "$P" --gen-tokens "$G" \
            --rounds 1 --json "$OUT/quant-w$w-$r.json" | grep -E "^(prompt|decode|bandwidth|memory)" | sed "s/^/  quant w$w round $r: /"
        "$MEMBW" 1024 "$THREADS" > "$OUT/llama-w$w-$r.bw0"
        node bench/llamacpp_bench.mjs "$DIR/w${w}g32.gguf" "$THREADS" "$P" "$G" 1 "$OUT/llama-w$w-$r.json" | sed "s/^/  round $r: /"
        "$MEMBW" 1024 "$THREADS" > "$OUT/llama-w$w-$r.bw1"
    done
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
/usr/bin/python3 - "$OUT" "$WIDTHS" <<'PY'
import glob, json, statistics as st, sys
out, widths = sys.argv[1], sys.argv[2].split()
med = lambda v: st.median(v) if v else float("nan")
print("%-6s %-10s %12s %12s %10s %12s %10s %s" % ("width", "engine", "prompt t/s", "decode t/s", "RSS GiB", "bound t/s", "% bound",
      "% bound by round (GB/s)"))
for w in widths:
    q, l, lbw = [], [], []
    for f in sorted(glob.glob(f"{out}/quant-w{w}-*.json")):
        r = f[len(f"{out}/quant-w{w}-"):-5]
        q.append(json.load(open(f)))
        l.append(json.load(open(f"{out}/llama-w{w}-{r}.json")))
        lbw.append(0.5 * sum(float(open(f"{out}/llama-w{w}-{r}.bw{i}").read()) for i in (0, 1)))
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
    rp = [a["prompt_tokens_per_s"] / b["prompt_tokens_per_s"] for a, b in zip(q, l)]
    rd = [a["decode_tokens_per_s"] / b["decode_tokens_per_s"] for a, b in zip(q, l)]
    print("%-6s %-10s %11.2fx %11.2fx   (median of the rounds' ratios: prompt %s, decode %s; RSS / (weights + KV + activations) = %.3f)" % (
          "", "ratio", med(rp), med(rd), " ".join("%.2f" % x for x in rp), " ".join("%.2f" % x for x in rd),
          med([x["rss_over_needed"] for x in q])))
    # both engines read the same bytes a token, so the decode ratio is at most 1 / llama.cpp's
    # share of the bound: what a decode at the bound itself would reach
    print("%-6s %-10s %24.2fx   (a decode at 100%% of the bound against llama.cpp: 1 / its share, median of the rounds)" % (
          "", "at bound", med([1 / f for f in lf if f > 0])))
PY
