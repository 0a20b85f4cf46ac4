#!/usr/bin/env bash
# tests/run.sh — runs the test binaries (build/tests/test_*) and, unless --unit is given,
# the integration scripts (tests/integration/*.sh), adds up their "N passed, N failed"
# summary lines and prints the total as the last line.  Exit status 1 if anything failed.
#   bash tests/run.sh [--unit] [NAME-SUBSTRING...]
set -u
cd "$(dirname "$0")/.."
BUILD=${QUANT_BUILD:-build}
export QUANT_BUILD=$BUILD
export QUANT_BIN=${QUANT_BIN:-$PWD/$BUILD/quant}
export QUANT_DATA_DIR=${QUANT_DATA_DIR:-$(cd .. && pwd)/shared/data}
unit_only=0
filters=()
for a in "$@"; do
    case "$a" in
        --unit) unit_only=1 ;;
        *) filters+=("$a") ;;
    esac
done
work=$(mktemp -d "${TMPDIR:-/tmp}/quant-run-XXXXXX")
trap 'rm -rf "$work"' EXIT
export TMPDIR=$work

progs=()
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] && [ "${t%.d}" = "$t" ] && progs+=("$t")
done
if [ $unit_only = 0 ]; then
    for t in tests/integration/*.sh; do [ -f "$t" ] && [ "$(basename "$t")" != lib.sh ] && progs+=("$t"); done
fi

total_p=0; total_f=0; total_s=0
for t in "${progs[@]}"; do
    if [ ${#filters[@]} -gt 0 ]; then
        keep=0
        for f in "${filters[@]}"; do [[ "$t" == *"$f"* ]] && keep=1; done
        [ $keep = 1 ] || continue
    fi
    log="$work/$(basename "$t").log"
    t0=$(date +%s.%N)
    case "$t" in
        *.sh) bash "$t" >"$log" 2>&1 ;;
        *)    "$t" >"$log" 2>&1 ;;
    esac
    rc=$?
    dt=$(echo "$(date +%s.%N) - $t0" | bc)
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    p=$(echo "$line" | sed -nE 's/.* ([0-9]+) passed.*/\1/p'); p=${p:-0}
    f=$(echo "$line" | sed -nE 's/.* ([0-9]+) failed.*/\1/p'); f=${f:-0}
    s=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p'); s=${s:-0}
    if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s))
    status=ok; [ "$f" != 0 ] && status=FAIL
    printf '%-4s %-40s %3d passed %3d failed %3d skipped  %6.1fs\n' "$status" "$(basename "$t")" "$p" "$f" "$s" "$dt"
    # a failing check's own lines (lib.sh indents its stderr/stdout tails under it), so a rare
    # failure in CI leaves what it saw in the log
    if [ "$f" != 0 ] || [ "$s" != 0 ]; then
        awk '/FAIL|SKIP|error|ERROR|Sanitizer|runtime error/ {print; keep = /FAIL/; next} keep && /^    / {print; next} {keep = 0}' "$log" |
            head -n 60 | sed 's/^/     /'
    fi
    if [ $rc -ne 0 ] && [ -z "$line" ]; then tail -n 20 "$log" | sed 's/^/     /'; fi
done
echo "tests: $total_p passed, $total_f failed, $total_s skipped"
[ $total_f -eq 0 ]
