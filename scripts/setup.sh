#!/usr/bin/env bash
# scripts/setup.sh — installs what quant needs on Debian 12, and nothing that is there already.
#   bash scripts/setup.sh            build + demo: compilers, BLAS/LAPACKE, cJSON, zlib, curl, Fashion-MNIST
#   bash scripts/setup.sh --test     also the test references: numpy, clang, node + npm packages,
#                                    headless Chromium + chromedriver + python3-pil (the report's browser test)
#   bash scripts/setup.sh --bench    also PyTorch (python3-torch) for the side-by-side benchmarks
# Not root and something missing: prints the exact apt-get command and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(gcc make pkg-config bc libopenblas-dev liblapacke-dev libcjson-dev libcurl4-openssl-dev
      zlib1g-dev libsnappy-dev dataset-fashion-mnist)
want_npm=0
for a in "$@"; do
    case "$a" in
        # libclang-rt: libFuzzer; chromium + driver + PIL: the reports' browser test
        --test) pkgs+=(clang libclang-rt-14-dev python3 python3-numpy nodejs npm chromium chromium-driver python3-pil); want_npm=1 ;;
        --bench) pkgs+=(python3 python3-numpy python3-torch) ;;
        *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
    esac
done
missing=()
for p in "${pkgs[@]}"; do
    # node/npm may come from another packaging (nodesource ships npm inside nodejs)
    case "$p" in nodejs) command -v node >/dev/null && continue ;; npm) command -v npm >/dev/null && continue ;; esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup.sh: missing Debian packages; run as root:" >&2
        echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "setup.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ $want_npm = 1 ] && [ -f tests/npm/package.json ]; then
    if [ ! -d tests/npm/node_modules ] || [ tests/npm/package-lock.json -nt tests/npm/node_modules ]; then
        echo "setup.sh: npm ci in tests/npm" >&2
        (cd tests/npm && npm ci --omit=optional --no-audit --no-fund --loglevel=error >/dev/null)
    fi
fi
echo "setup.sh: ok" >&2
