#!/usr/bin/env bash
# Assembles docs/walkthrough.md from docs/chapters/*.md (the chapters hold the commands and
# the outputs those commands printed), and draws the chapters' plots: docs/plots/<run>-<k>.svg
# cut out of the reports of the runs saved in docs/runs/*.json.
#   bash scripts/walkthrough.sh           assemble; redraw the plots from docs/runs/*.json
#   bash scripts/walkthrough.sh --runs    first run the chapters' commands again into docs/runs/
#                                         (basics, ptq-nn, qat, ptq-llm, its outlier fixture: ~12 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
Q=build/quant
if [ "${1:-}" = --runs ]; then
    D=../shared/data
    W=$(mktemp -d)
    mkdir -p docs/runs
    $Q basics --bits 8,4,2 --json docs/runs/basics.json >/dev/null
    $Q ptq-nn --save-model "$W/models" --json docs/runs/ptq-nn.json >/dev/null
    $Q qat --from "$W/models/mlp-fp32.qnn" --bits 4,2 --act-bits 8 --json docs/runs/qat.json >/dev/null
    $Q ptq-llm --model $D/stories260K.bin --tokenizer $D/tok512.bin --eval-text $D/tinystories_val.txt \
        --json docs/runs/ptq-llm.json >/dev/null
    $Q ptq-llm --model $D/stories260K.bin --tokenizer $D/tok512.bin --eval-text $D/tinystories_val.txt \
        --method rtn,awq --bits 8,4 --group-size 32 --inject-outliers 4x50 --json docs/runs/ptq-llm-outliers.json >/dev/null
    rm -rf "$W"
fi
if [ -x $Q ] && ls docs/runs/*.json >/dev/null 2>&1; then
    rm -f docs/plots/*.svg
    for j in docs/runs/*.json; do
        n=$(basename "$j" .json)
        $Q report "$j" --out "docs/runs/$n.html.tmp"
        python3 scripts/report_svgs.py "docs/runs/$n.html.tmp" docs/plots "$n" > "docs/runs/$n.plots.md"
        rm -f "docs/runs/$n.html.tmp"
    done
fi
{
    echo "# quant — a walkthrough"
    echo
    echo "From one number on an 8-bit grid to a quantized language model. Every number in these"
    echo "chapters was printed by the command shown beside it (run from the repository root after"
    echo "\`make\`; the data come from ../shared/data and Debian's dataset-fashion-mnist)."
    echo
    for f in docs/chapters/*.md; do
        t=$(head -n 1 "$f" | sed 's/^# //')
        echo "- [$t](#$(echo "$t" | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9 -]//g; s/ /-/g'))"
    done
    for f in docs/chapters/*.md; do
        echo
        sed 's/^#/##/' "$f"
    done
} > docs/walkthrough.md
echo "docs/walkthrough.md: $(wc -l < docs/walkthrough.md) lines"
