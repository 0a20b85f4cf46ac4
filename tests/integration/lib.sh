# tests/integration/lib.sh — helpers for integration scripts (sourced, not run).
#   check NAME CMD...        runs CMD; passes when it exits 0
#   check_fails NAME CMD...  passes when CMD exits non-zero and prints "quant: error:" on stderr
#   skip NAME WHY            counts a skipped check
#   summary                  prints "<script>: N passed, N failed, N skipped", exits 1 on failure
set -u
_p=0; _f=0; _s=0
QUANT=${QUANT_BIN:-$PWD/build/quant}
DATA=${QUANT_DATA_DIR:-$PWD/../shared/data}
T=$(mktemp -d "${TMPDIR:-/tmp}/qit-XXXXXX")
check() {
    local name=$1; shift
    if "$@" >"$T/out" 2>"$T/err"; then _p=$((_p + 1)); else
        # the command's first line only: an inline script's lines would end run.sh's copy of the tails
        local cmd="$*"
        _f=$((_f + 1)); echo "  FAIL $name: ${cmd%%$'\n'*}"; tail -n 15 "$T/err" | sed 's/^/    /'; tail -n 5 "$T/out" | sed 's/^/    /'; fi
}
check_fails() {
    local name=$1; shift
    if "$@" >"$T/out" 2>"$T/err"; then
        _f=$((_f + 1)); echo "  FAIL $name: expected failure: $*"
    elif grep -q "quant: error:" "$T/err" && [ "$(grep -c . "$T/err")" -le 3 ]; then _p=$((_p + 1))
    else _f=$((_f + 1)); echo "  FAIL $name: no one-line 'quant: error:' message"; head -n 5 "$T/err" | sed 's/^/    /'; fi
}
skip() { _s=$((_s + 1)); echo "  SKIP $1: $2"; }
summary() {
    echo "$(basename "$0"): $_p passed, $_f failed, $_s skipped"
    rm -rf "$T"
    [ $_f -eq 0 ]
}
