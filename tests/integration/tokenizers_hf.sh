#!/usr/bin/env bash
# Hugging Face tokenizer.json features against @huggingface/tokenizers (npm, pinned in
# tests/npm; the JavaScript port of Hugging Face tokenizers, run offline on local files).
# tests/reference/tok_fixtures.py writes one small tokenizer per feature real checkpoints use
# (Llama 2 Prepend+Replace with byte fallback, byte fallback without byte tokens -> <unk>, no
# fallback, Mistral's Metaspace prepend_scheme "first", the older Metaspace split, GPT-2
# ByteLevel, GPT-2's regex as a Split, Llama 3's Split + ByteLevel + ignore_merges; added
# tokens special or not, lstrip, several strings for one id).  For each: identical ids on a
# text exercising the features and on the first 100 kB of wiki.test.raw and tinystories_val.txt
# (QUANT_TEST_FULL=1: the whole files, about 7 minutes); the special ids quant resolves from
# tokenizer_config.json / special_tokens_map.json / generation_config.json / config.json equal
# the ones transformers' order gives (stated in the fixture script); each feature quant does
# not implement is refused with an error naming it.
cd "$(dirname "$0")/../.." && source tests/integration/lib.sh
NPM=tests/npm/node_modules
PY=${QUANT_PYTHON:-/usr/bin/python3}
if [ ! -d "$NPM/@huggingface/tokenizers" ] || ! command -v node >/dev/null; then
    skip tokenizers_hf "npm reference @huggingface/tokenizers missing: run 'bash scripts/setup.sh --test' (npm ci in tests/npm)"
    summary; exit $?
fi
same_ids() { "$PY" -c "import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); print(len(a), 'ids;', 'equal' if a==b else 'DIFFER'); sys.exit(0 if a==b else 1)" "$1" "$2"; }
check "write the fixtures" "$PY" tests/reference/tok_fixtures.py make "$T/fx"
cat > "$T/features.txt" <<'TXT'
Hello world.  Two  spaces,	tab, trailing space 
New
lines

and CRLF
 leading space; it's I'LL WE'RE 12345678 1 22 333 4444
Café naïve — “quotes” ‘x’ ’ 😀 𝔘𝔫𝔦 ✓ ü 日本語 الْعَرَبِيَّة
<s>special</s> in text<unk> and <mask> with  <mask>lstrip, [INST] q [/INST] <|begin_of_text|>x<|eot_id|> <tool>y <|endoftext|>z
TXT
printf 'a\r\nb \r\n\n  c' > "$T/crlf.txt"
texts="$T/features.txt $T/crlf.txt"
for f in wiki.test.raw tinystories_val.txt; do
    if [ ! -f "$DATA/$f" ]; then skip "$f" "missing $DATA/$f"; continue; fi
    if [ "${QUANT_TEST_FULL:-0}" = 1 ]; then texts="$texts $DATA/$f"
    else head -c 100000 "$DATA/$f" | sed '$d' > "$T/$f"; texts="$texts $T/$f"; fi
done
for fx in $("$PY" tests/reference/tok_fixtures.py list); do
    for txt in $texts; do
        n=$(basename "$txt")
        check "$fx: quant on $n" "$QUANT" tokenize --tokenizer "$T/fx/$fx" --text "$txt" --ids-out "$T/ours.json"
        check "$fx: reference on $n" node tests/npm/encode_hf.mjs "$T/fx/$fx" "$txt" "$T/ref.json"
        check "$fx: equal ids on $n" same_ids "$T/ours.json" "$T/ref.json"
        echo "  $fx $n: $(cat "$T/out")"
    done
    # the special ids, as quant prints them, against the fixture's statement of transformers' order
    check "$fx: specials" "$QUANT" tokenize --tokenizer "$T/fx/$fx" --prompt x --specials True
    cp "$T/out" "$T/specials.txt"
    check "$fx: specials as expected" "$PY" -c "
import json, sys
e = json.load(open(sys.argv[1]))[sys.argv[2]]
got = json.loads(open(sys.argv[3]).read().split('specials: ', 1)[1].splitlines()[0])
print(sys.argv[2], got)
sys.exit(0 if got == e else 1)" "$T/fx/expected.json" "$fx" "$T/specials.txt"
    echo "  $fx specials: $(cat "$T/out")"
done
# refused features: one error line naming the feature
for d in "$T"/fx/refuse_*; do
    r=$(basename "$d")
    check_fails "$r" "$QUANT" tokenize --tokenizer "$d" --prompt hi
    needle=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]['error'])" "$T/fx/expected.json" "$r")
    if grep -qF -- "$needle" "$T/err"; then _p=$((_p + 1)); else _f=$((_f + 1)); echo "  FAIL $r: '$(cat "$T/err")' lacks '$needle'"; fi
done
summary
