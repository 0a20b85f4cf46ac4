#!/usr/bin/env bash
# Assembles docs/walkthrough.md from docs/chapters/*.md (the chapters hold the commands and
# the outputs those commands printed).
set -euo pipefail
cd "$(dirname "$0")/.."
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
