#!/usr/bin/env bash
# tests/fuzz/run.sh — runs the fuzz harnesses (tests/fuzz/README.md).
#   run.sh replay BUILD          every BUILD/fuzz/replay_NAME on tests/fuzz/regressions/NAME and its
#                                seeds (make test, gcc ASan + UBSan); then, when clang's libFuzzer is
#                                installed, each libFuzzer harness for FUZZ_CI_SECONDS (default 3) on
#                                the seeds as a regression check.
#   run.sh fuzz BUILD SECONDS    each BUILD/fuzz/fuzz_NAME for SECONDS (make fuzz): corpus in
#                                BUILD/fuzz-corpus/NAME (seeded), crashes in BUILD/fuzz-crashes/NAME;
#                                prints executions and corpus size per harness.  FUZZ_ONLY="a b"
#                                restricts it to those harnesses.
# Memory: ASan reserves terabytes of shadow address space, so it cannot run under `ulimit -v`;
# the ASan builds use libFuzzer's -malloc_limit_mb / -rss_limit_mb=4000 instead (any single
# allocation over 4000 MB is reported as a crash, like an abort under ulimit -v 4000000), and
# FUZZ_SAN=ubsan (make fuzz FUZZ_SAN=ubsan) builds without ASan and runs under ulimit -v 4000000.
set -uo pipefail
cd "$(dirname "$0")/../.."
mode=${1:?usage: run.sh replay|fuzz BUILD [SECONDS]}
build=${2:?build directory}
seconds=${3:-60}
json_dict() {
    case "$1" in
        safetensors|safetensors_sharded|config|hf|qfile|tokenizer_json|vocab_merges) echo "-dict=tests/fuzz/json.dict" ;;
    esac
}
fail=0
# (re)written when older than the program that writes them; not while another run uses them
if [ ! -d "$build/fuzz-seeds" ] || [ "$build/fuzz/seeds" -nt "$build/fuzz-seeds" ]; then
    bash tests/fuzz/seeds.sh "$build" >/dev/null 2>&1 || { echo "run.sh: seeds.sh failed" >&2; fail=1; }
fi
if [ "$mode" = replay ]; then
    total=0
    for bin in "$build"/fuzz/replay_*; do
        name=${bin##*/replay_}
        dirs=()
        [ -d "tests/fuzz/regressions/$name" ] && dirs+=("tests/fuzz/regressions/$name")
        [ -d "$build/fuzz-seeds/$name" ] && dirs+=("$build/fuzz-seeds/$name")
        [ ${#dirs[@]} -gt 0 ] || continue
        if out=$(ASAN_OPTIONS=detect_leaks=0:max_allocation_size_mb=4000:allocator_may_return_null=0 "$bin" "${dirs[@]}" 2>&1); then
            n=$(echo "$out" | sed -nE 's/.*: ([0-9]+) inputs replayed/\1/p' | tail -n 1)
            total=$((total + ${n:-0}))
        else
            echo "FAIL replay $name:" >&2
            echo "$out" | tail -n 30 >&2
            fail=1
        fi
    done
    echo "fuzz replay: $total inputs (regressions + seeds) replayed, $( [ $fail = 0 ] && echo ok || echo FAILED)"
    exit $fail
fi
# fuzz
mkdir -p "$build/fuzz-corpus" "$build/fuzz-crashes"
printf '%-22s %8s %12s %8s %7s\n' harness seconds executions corpus crashes
for bin in "$build"/fuzz/fuzz_*; do
    name=${bin##*/fuzz_}
    # FUZZ_ONLY="hf qnn": a subset (e.g. two halves in parallel on two cores)
    if [ -n "${FUZZ_ONLY:-}" ] && [[ " $FUZZ_ONLY " != *" $name "* ]]; then continue; fi
    corpus=$build/fuzz-corpus/$name crashes=$build/fuzz-crashes/$name
    mkdir -p "$corpus" "$crashes"
    log=$build/fuzz-crashes/$name.log
    seeds=()
    [ -d "$build/fuzz-seeds/$name" ] && seeds+=("$build/fuzz-seeds/$name")
    [ -d "tests/fuzz/regressions/$name" ] && seeds+=("tests/fuzz/regressions/$name")
    (
        [ "${FUZZ_SAN:-asan}" = ubsan ] && ulimit -v 4000000
        ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1 \
            "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4000 -malloc_limit_mb=4000 -max_len=65536 \
            -print_final_stats=1 -artifact_prefix="$crashes/" $(json_dict "$name") "$corpus" "${seeds[@]}"
    ) >"$log" 2>&1
    rc=$?
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    ncorp=$(find "$corpus" -type f | wc -l)
    ncrash=$(find "$crashes" -type f | wc -l)
    printf '%-22s %8s %12s %8s %7s\n' "$name" "$seconds" "${execs:-?}" "$ncorp" "$ncrash"
    if [ $rc -ne 0 ] || [ "$ncrash" != 0 ]; then
        fail=1
        grep -E 'ERROR|runtime error|property violated|out-of-memory|SUMMARY' "$log" | head -n 5 | sed 's/^/    /'
    fi
done
exit $fail
