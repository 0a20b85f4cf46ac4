#!/usr/bin/env bash
# seed_command.sh — issue 17's acceptance run of the seed's command, as typed, against a model of
# distilgpt2's exact shape served by the fake Hub on loopback (so the download path runs):
#     quant ptq-llm --model_name=distilgpt2 --calib_samples=200 --seq_len=128
# Wall time, CPU time (user + sys) and peak RSS from /usr/bin/time -v, the load average before and
# after (the machine is shared: CPU time is the figure that does not depend on the others).
#
#     bash bench/seed_command.sh [OUTDIR (default /work/big/seed17)] [extra ptq-llm flags...]
#
# No text is named: ptq-llm reads WikiText-2 raw from the fake Hub as a `datasets` user gets it
# (Salesforce/wikitext parquet files, written here by tests/npm/parquet_write.mjs): the test
# split from wiki.test.raw, and for the train split (calibration) wiki.valid.raw as a stand-in,
# since ../shared has no wiki.train.raw.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/work/big/seed17}; shift || true
PY=/usr/bin/python3
QUANT=${QUANT:-build/quant}
DATA=${QUANT_DATA_DIR:-../shared/data}
mkdir -p "$OUT/hub"
[ -f "$OUT/hub/distilgpt2/model.safetensors" ] || $PY bench/make_shapes.py distilgpt2 "$OUT/hub/distilgpt2"
WT=$OUT/hub/datasets/Salesforce/wikitext/wikitext-2-raw-v1
if [ ! -f "$WT/train-00000-of-00001.parquet" ]; then
    mkdir -p "$WT"
    node tests/npm/parquet_write.mjs "$DATA/wiki.test.raw" "$WT/test-00000-of-00001.parquet" --writer arrow-rs --codec snappy >/dev/null
    node tests/npm/parquet_write.mjs "$DATA/wiki.valid.raw" "$WT/validation-00000-of-00001.parquet" --writer arrow-rs --codec snappy >/dev/null
    node tests/npm/parquet_write.mjs "$DATA/wiki.valid.raw" "$WT/train-00000-of-00001.parquet" --writer arrow-rs --codec snappy >/dev/null
fi
rm -rf "$OUT/hf" "$OUT/port"
$PY tests/reference/fake_hub.py "$OUT/hub" "$OUT/port" --lifetime 7200 &
SRV=$!
trap 'curl -s "http://127.0.0.1:$(cat "$OUT/port" 2>/dev/null)/shutdown" >/dev/null 2>&1 || true; wait $SRV 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$OUT/port" ] && break; sleep 0.1; done
export HF_ENDPOINT="http://127.0.0.1:$(cat "$OUT/port")" HF_HOME="$OUT/hf"
unset HF_HUB_OFFLINE HF_HUB_CACHE HF_TOKEN
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load"
/usr/bin/time -v -o "$OUT/time" "$QUANT" ptq-llm --model_name=distilgpt2 --calib_samples=200 --seq_len=128 \
    --json "$OUT/run.json" "$@" \
    > "$OUT/stdout" 2> "$OUT/stderr"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load"
grep -E "Elapsed|User time|System time|Maximum resident" "$OUT/time"
awk '/User time|System time/ {s += $NF} END {printf "CPU time (user + sys): %.1f s\n", s}' "$OUT/time"
head -n 40 "$OUT/stdout"
