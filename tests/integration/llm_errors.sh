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
    # a GGUF whose weights fit its file but not the machine once widened to fp32 (Q2_K, 70B
    # Llama-shaped, a sparse file: 2.6 bits a weight on disk, 32 in memory): one line naming the
    # sizes, before anything is allocated (was: malloc of 260 GiB, then an abort or the OOM killer)
    "$PY" - "$T/huge.gguf" <<'PYEOF'
import struct, sys
D, F, L, H, KV, V = 8192, 28672, 80, 64, 8, 32000
def s(b): return struct.pack("<Q", len(b)) + b
kv = [(b"general.architecture", 8, s(b"llama"))]
for k, v in ((b"embedding_length", D), (b"feed_forward_length", F), (b"block_count", L),
             (b"attention.head_count", H), (b"attention.head_count_kv", KV), (b"context_length", 4096)):
    kv.append((b"llama." + k, 4, struct.pack("<I", v)))
kv.append((b"llama.attention.layer_norm_rms_epsilon", 6, struct.pack("<f", 1e-5)))
head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kv)) + b"".join(s(k) + struct.pack("<I", t) + v for k, t, v in kv)
head += s(b"token_embd.weight") + struct.pack("<IQQIQ", 2, D, V, 10, 0)  # Q2_K
off = (len(head) + 31) // 32 * 32
total = V * D * 2 + L * (2 * D * D + 2 * D * D // 8 + 3 * D * F)
with open(sys.argv[1], "wb") as f:
    f.write(head + bytes(off - len(head)))
    f.truncate(off + total * 21 // 64)  # Q2_K: 84 bytes a 256
PYEOF
    fails_with eval_gguf_too_big_widened "needs .* GiB in memory (.* GiB of it weights widened to fp32.*available" \
        "$QUANT" eval --model "$T/huge.gguf" --text "$TXT"
    rm -f "$T/huge.gguf"
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
