#!/usr/bin/env bash
# ptq_llm_outliers.sh — the outlier fixture and the methods that handle outliers, end to end on
# stories260K: `ptq-llm --inject-outliers 4x50` leaves the fp32 perplexity exactly what
# `quant eval` gives for the clean model; per-tensor W8A8 degrades on it while SmoothQuant and
# the LLM.int8() decomposition stay near fp32; AWQ W4 g32 beats RTN; the JSON carries the
# per-site report and the static rows' range calibration; the default 8-bit weights (awq+gptq)
# stay within 0.1% where RTN's break; bad --inject-outliers values are refused.
source "$(dirname "$0")/lib.sh"
PY=${QUANT_PYTHON:-/usr/bin/python3}
M=$DATA/stories260K.bin; TK=$DATA/tok512.bin; TXT=$DATA/tinystories_val.txt
if [ ! -f "$M" ] || [ ! -f "$TK" ] || [ ! -f "$TXT" ]; then
    skip ptq_llm_outliers "missing stories260K.bin / tok512.bin / tinystories_val.txt in $DATA"; summary; exit $?
fi
if ! "$PY" -c 1 2>/dev/null; then skip ptq_llm_outliers "no $PY"; summary; exit $?; fi

check outliers_run "$QUANT" ptq-llm --model "$M" --tokenizer "$TK" --eval-text "$TXT" --seq-len 256 \
    --calib-samples 32 --max-windows 60 --method rtn,awq --bits 4 --group-size 32 --inject-outliers 4x50 \
    --json "$T/o.json"
check outliers_eval_clean "$QUANT" eval --model "$M" --tokenizer "$TK" --text "$TXT" --seq-len 256 --max-windows 60 \
    --json "$T/fp.json"
check outliers_report "$PY" -c "
import json
j = json.load(open('$T/o.json'))
rows = {r['method']: r for r in j['rows']}
fp = rows['fp32']['perplexity']
clean = json.load(open('$T/fp.json'))['perplexity']
d = lambda m: rows[m]['perplexity'] / fp - 1
print('fp32 injected %.6f, clean %.6f; w8a8 tensor %+.2f%%, sq w8a8 tensor %+.2f%%, int8() %+.2f%%, rtn w4 %+.2f%%, awq w4 %+.2f%%'
      % (fp, clean, 100 * d('w8a8 tensor'), 100 * d('sq w8a8 tensor'), 100 * d('w8a8 int8()'), 100 * d('rtn'), 100 * d('awq')))
assert abs(fp - clean) <= 1e-5 * clean, (fp, clean)
assert j['injected_outliers']['factor'] == 50 and len(j['injected_outliers']['channels']) == 4
assert d('w8a8 tensor') > 0.05, 'per-tensor W8A8 should collapse on the outlier model'
assert d('sq w8a8 tensor') < 0.01 and d('w8a8 int8()') < 0.005
assert d('sq w8a8 tensor') < d('w8a8 tensor') / 5
assert rows['awq']['perplexity'] < rows['rtn']['perplexity']
assert rows['awq a8 token']['act_bits'] == 8
# the static rows say how their ranges were calibrated: searched on the output error, within min-max
for m in ('w8a8 tensor', 'sq w8a8 tensor'):
    assert rows[m]['act_range'] == 'search' and len(rows[m]['act_range_ratio']) == 5 * 4, rows[m]
    assert all(0.25 - 1e-6 <= c <= 1 + 1e-6 for c in rows[m]['act_range_ratio'])
assert 'act_range' not in rows['w8a8 token']
kinds = {s['variant']: s for s in j['scales']}
sq = kinds['sq w8a8 tensor']['sites']
assert len(sq) == 5 * 4 and all(0 <= s.get('alpha', 0) <= 1 for s in sq)
assert sum('alpha' in s for s in sq) >= 10
# the injected channels are outliers before smoothing and gone after it
a0 = [s for s in sq if s['layer'] == 0 and s['input_of'].startswith('attn-in')][0]
assert a0['channel_absmax_max_before'] > 10 * a0['channel_absmax_median_before'], a0
assert a0['channel_absmax_max_after'] < 3 * a0['channel_absmax_median_after'], a0
assert a0['int8_channels_kept'] >= 4, a0
assert any(s['variant'].startswith('awq') for s in j['scales'])
"
grep -h "fp32 injected" "$T/out" | sed 's/^/  /'

# the default 8-bit weights (awq+gptq, groups of 32) on the outlier model: RTN's groups of 32 break
# on the columns divided by 50, AWQ's scales undo them and GPTQ compensates the rounding
check outliers_w8_run "$QUANT" ptq-llm --model "$M" --tokenizer "$TK" --eval-text "$TXT" --seq-len 256 \
    --calib-samples 32 --max-windows 60 --method rtn,awq+gptq --bits 8 --act-bits 0 --inject-outliers 4x50 \
    --json "$T/w8.json"
check outliers_w8 "$PY" -c "
import json
rows = {r['method']: r for r in json.load(open('$T/w8.json'))['rows']}
d = lambda m: rows[m]['perplexity'] / rows['fp32']['perplexity'] - 1
print('outlier model W8 g32: rtn %+.3f%%, awq+gptq %+.3f%%' % (100 * d('rtn'), 100 * d('awq+gptq')))
assert d('rtn') > 0.01, 'RTN W8 g32 should lose more than 1% on the outlier model'
assert abs(d('awq+gptq')) <= 0.001, 'the default W8 (awq+gptq g32) should stay within 0.1% of fp32'
assert rows['awq+gptq']['weight_bits'] == 8 and rows['awq+gptq']['group_size'] == 32
"
grep -h "outlier model W8" "$T/out" | sed 's/^/  /'

for bad in 0x50 4x0 4x-1 x50 4 4x50junk 65x2; do
    check_fails "inject_outliers_bad_$bad" "$QUANT" ptq-llm --model "$M" --tokenizer "$TK" --eval-text "$TXT" \
        --max-windows 2 --inject-outliers "$bad"
done
check_fails ptq_llm_method_awq_bogus "$QUANT" ptq-llm --model "$M" --tokenizer "$TK" --eval-text "$TXT" --method awq+rtn \
    --max-windows 2
summary
