#!/usr/bin/env bash
# llm_errors.sh — `quant eval` / `quant generate` on broken inputs: one clear "quant: error:"
# line each, never a crash.  Broken Hugging Face directories come from tests/reference/llm_ref.py.
source "$(dirname "$0")/lib.sh"
# fails_with NAME PATTERN CMD...: check_fails, and the message must match PATTERN
fails_with() {
    local name=$1 pat=$2; shift 2
    check_fails "$name" "$@"
    if ! grep -q -- "$pat" "$T/err"; then
        _p=$((_p - 1)); _f=$((_f + 1)); echo "  FAIL $name: message lacks '$pat':"; head -n 2 "$T/err" | sed 's/^/    /'
    fi
}
PY=${QUANT_PYTHON:-/usr/bin/python3}
REF=tests/reference/llm_ref.py
TXT=$T/text.txt
printf 'Once upon a time there was a cat.\n' > "$TXT"
if "$PY" -c 'import numpy' 2>/dev/null; then
    want_truncated="down_proj.weight'.*run past the data area"
    want_offsets="model.norm.weight'.*run past the data area"
    want_dims="wte.weight' has shape \[97, 32\] but config.json implies \[97, 40\]"
    want_unknown_arch="unknown architecture 'BertForMaskedLM'"
    want_missing_tensor="up_proj.weight' is missing"
    for kind in truncated offsets dims unknown_arch missing_tensor; do
        "$PY" $REF bad "$T/$kind" $kind
        want=want_$kind
        fails_with "eval_$kind" "${!want}" "$QUANT" eval --model "$T/$kind" --text "$TXT" --seq-len 8
    done
    # a config whose dims imply far more weights than the files hold: an error, not an OOM abort
    "$PY" $REF make "$T/huge" --arch llama
    sed -i 's/"hidden_size": 48/"hidden_size": 48000/' "$T/huge/config.json"
    fails_with eval_absurd_dims "implies .* weights but the safetensors hold only" "$QUANT" eval --model "$T/huge" --text "$TXT"
    # a valid model without any tokenizer files
    "$PY" $REF make "$T/notok" --arch llama
    fails_with eval_missing_tokenizer "no tokenizer found" "$QUANT" eval --model "$T/notok" --text "$TXT" --seq-len 8
    fails_with generate_missing_tokenizer "no tokenizer found" "$QUANT" generate --model "$T/notok" --prompt hi -n 5
    fails_with eval_model_name_not_dir "no-such-model" "$QUANT" eval --model_name=no-such-org/no-such-model --text "$TXT"
else
    skip hf_errors "no python3 with numpy"
fi
check_fails eval_no_model "$QUANT" eval --text "$TXT"
check_fails eval_missing_path "$QUANT" eval --model "$T/nothing.bin" --text "$TXT"
if [ -f "$DATA/stories260K.bin" ]; then
    head -c 1000000 "$DATA/stories260K.bin" > "$T/trunc.bin"
    fails_with eval_truncated_llama2c "truncated.*needs 1056540 bytes, the file has 1000000" "$QUANT" eval --model "$T/trunc.bin" --tokenizer "$DATA/tok512.bin" --text "$TXT"
    fails_with generate_truncated_llama2c "truncated" "$QUANT" generate --model "$T/trunc.bin" --tokenizer "$DATA/tok512.bin" -n 5
    mkdir -p "$T/lonely" && cp "$DATA/stories260K.bin" "$T/lonely/"
    fails_with eval_missing_tokenizer_l2c "no tokenizer given" "$QUANT" eval --model "$T/lonely/stories260K.bin" --text "$TXT"
    check_fails eval_seq_too_long "$QUANT" eval --model "$DATA/stories260K.bin" --tokenizer "$DATA/tok512.bin" --text "$TXT" --seq-len 4096
    check_fails eval_bad_protocol "$QUANT" eval --model "$DATA/stories260K.bin" --tokenizer "$DATA/tok512.bin" --text "$TXT" --ppl-protocol nope
    fails_with eval_text_too_short "fewer than one window" "$QUANT" eval --model "$DATA/stories260K.bin" --tokenizer "$DATA/tok512.bin" --text "$TXT" --seq-len 256
else
    skip llama2c_errors "no stories260K.bin in $DATA"
fi
summary
