#!/usr/bin/env bash
# bench/compare_nn.sh — our MLP (build/bench/bench_nn) against PyTorch (bench/torch_mlp.py)
# on the same recipe, at 1 and 2 threads, in one run; prints both sides' figures and a table
# of ratios.  Not a test: nothing asserts a speed.  Timings on a shared machine are noisy
# (run it with `nice` when others are working, and read the figures as indicative).
#
#   bash bench/compare_nn.sh [--threads "1 2"] [--epochs 5] [--out DIR]
#   bash bench/compare_nn.sh --from DIR [--threads "1 2"]   (only the table, from an earlier --out DIR)
#
# PyTorch's int8 figures in the ratios are the best over every quantized engine its build
# has (torch_mlp.py's best_* keys; Debian's 1.13 has onednn and qnnpack, no fbgemm).  Its
# batch-1 latency is a model(x) call from Python, as a user would run it, so it includes the
# interpreter and dispatcher overhead; ours is a C call.
#
# Needs: make (builds build/bench/bench_nn), /usr/bin/python3 with torch and numpy
# (`bash scripts/setup.sh --bench`), Fashion-MNIST in /usr/share/datasets/fashion-mnist.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${QUANT_PYTHON:-/usr/bin/python3}
threads="1 2"; epochs=5; out=""; from=""
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads=$2; shift 2 ;;
        --epochs) epochs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --from) from=$2; shift 2 ;;
        *) echo "compare_nn.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if ! "$PY" -c "import torch, numpy" 2>/dev/null; then
    echo "compare_nn.sh: $PY cannot import torch/numpy; run: bash scripts/setup.sh --bench" >&2; exit 1
fi
if [ -n "$from" ]; then out=$from; else
make -s build/bench/bench_nn >&2
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/compare-nn-XXXXXX")
mkdir -p "$out"
for t in $threads; do
    echo "== quant, $t thread(s)" >&2
    build/bench/bench_nn --threads "$t" --epochs "$epochs" --json "$out/ours-$t.json"
    echo "== PyTorch, $t thread(s)" >&2
    "$PY" bench/torch_mlp.py --threads "$t" --epochs "$epochs" --json "$out/torch-$t.json"
done
fi
"$PY" - "$out" $threads <<'EOF'
import json, sys
out, threads = sys.argv[1], sys.argv[2:]
rows = []
for t in threads:
    o = json.load(open(f"{out}/ours-{t}.json"))
    p = json.load(open(f"{out}/torch-{t}.json"))
    p.setdefault("best_lat_b1_int8_ms", p["lat_b1_int8_ms"])
    p.setdefault("best_thr_b256_int8_img_s", p["thr_b256_int8_img_s"])
    rows.append((t, o, p))
print()
print(f"MLP 784-256-128-10, {rows[0][1]['epochs']} epochs; ours: int8 kernels {rows[0][1]['engine']}; "
      f"PyTorch {rows[0][2]['torch_version']}, int8 = best of engines {', '.join(rows[0][2].get('int8_engines', [rows[0][2]['engine']]))}")
print(f"{'threads':>7} | {'acc fp32 ours/pt':>17} {'acc int8 ours/pt':>17} | {'train s/ep ours':>15} {'pt':>6} "
      f"{'ours/pt':>7} | {'int8 b1 us ours':>15} {'pt':>7} {'ours/pt':>7} | {'int8 b256 img/s ours':>20} "
      f"{'pt':>8} {'ours/pt':>7} | {'ours int8 vs fp32: b1 speed-up':>30} {'b256 thr x':>10}")
for t, o, p in rows:
    print(f"{t:>7} | {100*o['acc_fp32']:8.2f}/{100*p['acc_fp32']:<8.2f} {100*o['acc_int8']:8.2f}/{100*p['acc_int8']:<8.2f} | "
          f"{o['train_s_per_epoch']:15.2f} {p['train_s_per_epoch']:6.2f} {o['train_s_per_epoch']/p['train_s_per_epoch']:7.2f} | "
          f"{1e3*o['lat_b1_int8_ms']:15.1f} {1e3*p['best_lat_b1_int8_ms']:7.1f} {o['lat_b1_int8_ms']/p['best_lat_b1_int8_ms']:7.2f} | "
          f"{o['thr_b256_int8_img_s']:20.0f} {p['best_thr_b256_int8_img_s']:8.0f} {o['thr_b256_int8_img_s']/p['best_thr_b256_int8_img_s']:7.2f} | "
          f"{o['lat_b1_fp32_ms']/o['lat_b1_int8_ms']:30.2f} {o['thr_b256_int8_img_s']/o['thr_b256_fp32_img_s']:10.2f}")
print("(ours/pt < 1 is better for training time and latency, > 1 is better for throughput;")
print(" fp32 for reference: b1 us ours/pt " + ", ".join(
    f"{t}t {1e3*o['lat_b1_fp32_ms']:.1f}/{1e3*p['lat_b1_fp32_ms']:.1f}" for t, o, p in rows) +
    "; b256 img/s ours/pt " + ", ".join(
    f"{t}t {o['thr_b256_fp32_img_s']:.0f}/{p['thr_b256_fp32_img_s']:.0f}" for t, o, p in rows) + ")")
print(f"JSON: {out}/ours-<threads>.json, {out}/torch-<threads>.json")
EOF
