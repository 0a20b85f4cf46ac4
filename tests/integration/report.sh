#!/usr/bin/env bash
# report.sh — the HTML reports: `--report FILE` of basics, ptq-nn, qat and ptq-llm (with
# --compare reference points), `quant report` on saved JSON (the bench fixture, several runs
# side by side); each report parses (html.parser, every tag closed), each plot is well-formed
# SVG with its labels, caption and expected series (tests/reference/report_check.py), is under
# 1 MB, and opens in headless Chromium with no console error, in under a second, with data drawn
# in every plot (tests/reference/report_browser.py).  Hostile JSON gives one error line, no file.
source "$(dirname "$0")/lib.sh"
PY=${QUANT_PYTHON:-/usr/bin/python3}
FM=${QUANT_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
M=$DATA/stories260K.bin; TK=$DATA/tok512.bin; TXT=$DATA/tinystories_val.txt
CHECK="$PY tests/reference/report_check.py"
if ! "$PY" -c 1 2>/dev/null; then skip report "no $PY"; summary; exit $?; fi
REPORTS=()

# basics
check basics_report "$QUANT" basics --json "$T/basics.json" --report "$T/basics.html"
check basics_plots $CHECK "$T/basics.html" --max-bytes 1000000 --figures 6 \
    --expect "value line=the value x|grid levels|x̂" --expect "Zoom=8-bit levels|x̂" \
    --expect "8-bit error histograms=tensor, symmetric|channel, affine|group 32, symmetric" --expect "2-bit error histograms=tensor"
check basics_example_in_json "$PY" -c "
import json
g = [x for x in json.load(open('$T/basics.json'))['example']['grids'] if x['bits'] == 8][0]
assert g['code'] == 9 and abs(g['dequantized'] - 137 / 255) < 1e-6, g   # 0.5372 -> level 137 of 0..255
"
REPORTS+=("$T/basics.html")

# ptq-nn and qat (small and fast: 1 epoch on part of the training set)
if [ -f "$FM/train-images-idx3-ubyte.gz" ]; then
    check ptq_nn_report "$QUANT" ptq-nn --epochs 1 --train-samples 12000 --no-bench --bits 8,4,2 --data "$FM" \
        --save-model "$T/m" --json "$T/nn.json" --report "$T/nn.html"
    check ptq_nn_plots $CHECK "$T/nn.html" --max-bytes 1000000 \
        --expect "accuracy against bits per weight=fp32|weight-only sym, tensor|weight-only affine, channel|static (integer)|Pareto front" \
        --expect "fp32 and 2-bit=fp32 weights|2-bit weights|grid levels" --expect "fp32 and 8-bit=8-bit weights"
    # the histogram after quantization counts every weight of the layer once, at its level
    check ptq_nn_histogram_counts "$PY" -c "
import json
h = json.load(open('$T/nn.json'))['weight_histogram']
n = h['in'] * h['out']
assert sum(h['counts']) == n, (sum(h['counts']), n)
for q in h['quantized']:
    assert sum(q['level_counts']) == n and len(q['level_counts']) == q['qmax'] - q['qmin'] + 1, q['bits']
"
    check qat_report "$QUANT" qat --from "$T/m/mlp-fp32.qnn" --epochs 1 --train-samples 3000 --bits 4,2 --data "$FM" \
        --json "$T/qat.json" --report "$T/qat.html"
    check qat_plots $CHECK "$T/qat.html" --max-bytes 1000000 --figures 3 \
        --expect "Test accuracy=PTQ A8|QAT STE A8|QAT LSQ A8|fp32 fine-tuned|Pareto front" \
        --expect "Training loss=QAT STE W4A8|QAT LSQ W2A8|fp32 fine-tuned (control)" --expect "Training accuracy=QAT LSQ W4A8"
    # 8 points per epoch, and each epoch's points average to the loss of the whole epoch's batches
    check qat_curves "$PY" -c "
import json
rows = [r for r in json.load(open('$T/qat.json'))['rows'] if 'curve' in r]
assert len(rows) == 5, len(rows)   # the control, STE and LSQ at 4 and 2 bits
for r in rows:
    c = r['curve']
    assert c['points_per_epoch'] == 8 and len(c['loss']) == 8 and len(c['train_accuracy']) == 8, r['method']
    assert all(0 < a <= 1 for a in c['train_accuracy']) and all(l > 0 for l in c['loss'])
"
    REPORTS+=("$T/nn.html" "$T/qat.html")
    # the CNN: the same plots from the same fields; its histogram is one output channel of the
    # linear layer on that channel's own grid (the CNN quantizes per channel)
    check ptq_nn_cnn_report "$QUANT" ptq-nn --arch cnn --epochs 1 --train-samples 6000 --no-bench --bits 8,4,2 --data "$FM" \
        --save-model "$T/c" --json "$T/cnn.json" --report "$T/cnn.html"
    check ptq_nn_cnn_plots $CHECK "$T/cnn.html" --max-bytes 1000000 --figures 4 \
        --expect "accuracy against bits per weight=fp32 (cnn)|weight-only sym, channel|static (integer)|Pareto front" \
        --expect "output channel 0 (800 weights): fp32 and 2-bit=fp32 weights|2-bit weights|grid levels" \
        --expect "output channel 0 (800 weights): fp32 and 4-bit=4-bit weights" --expect "fp32 and 8-bit=8-bit weights"
    # every weight of the channel counted once before and once after; at 2 bits min-max puts the
    # step at max|w| (levels -2s..s), so the weights on 0 are exactly those with |w| < max|w| / 2:
    # the middle half of the fp32 histogram's bins (its edges fall on +-max|w| / 2)
    check ptq_nn_cnn_histogram "$PY" -c "
import json
h = json.load(open('$T/cnn.json'))['weight_histogram']
assert h['layer'] == 2 and h['in'] == 800 and h['out'] == 10 and h['channel'] == 0, h
c, n = h['counts'], h['in']
assert sum(c) == n and len(c) == 96 and h['hi'] == -h['lo'] > 0, (sum(c), n)
q = {x['bits']: x for x in h['quantized']}
assert sorted(q) == [2, 4, 8] and all(sum(x['level_counts']) == n for x in q.values())
q2 = q[2]
assert (q2['qmin'], q2['qmax']) == (-2, 1) and abs(q2['scale'] - h['hi']) <= 1e-6 * h['hi'], q2
assert q2['level_counts'][2] == sum(c[24:72]), (q2['level_counts'], sum(c[24:72]))
"
    check qat_cnn_report "$QUANT" qat --arch cnn --from "$T/c/cnn-fp32.qnn" --epochs 1 --train-samples 3000 --bits 4,2 \
        --data "$FM" --json "$T/cnnq.json" --report "$T/cnnq.html"
    cp "$T/err" "$T/cnnq.log"
    check qat_cnn_plots $CHECK "$T/cnnq.html" --max-bytes 1000000 --figures 3 \
        --expect "Test accuracy=PTQ A8|QAT STE A8|QAT LSQ A8|fp32 fine-tuned|Pareto front" \
        --expect "Training loss=QAT STE W4A8|QAT LSQ W4A8|QAT STE W2A8|QAT LSQ W2A8|fp32 fine-tuned (control)" \
        --expect "Training accuracy=QAT STE W2A8|QAT LSQ W4A8|fp32 fine-tuned (control)"
    # the curve's 8 segments of 3000 images in batches of 128 (24 batches, 3 per segment, the last
    # short), weighted by their images, give back the epoch's loss and accuracy the QAT log prints
    check qat_cnn_curves "$PY" -c "
import json, re
rows = [r for r in json.load(open('$T/cnnq.json'))['rows'] if 'curve' in r]
assert [r['method'] for r in rows] == ['fp32 fine-tuned', 'QAT STE', 'QAT LSQ', 'QAT STE', 'QAT LSQ'], rows
seg = [384] * 7 + [3000 - 7 * 384]
log = re.findall(r'cnn qat (ste|lsq) W(\d)A8 epoch 1/1  loss ([0-9.]+)  train acc ([0-9.]+)%', open('$T/cnnq.log').read())
assert len(log) == 4, log
for r, (m, w, loss, acc) in zip(rows[1:], log):
    c = r['curve']
    assert r['method'] == 'QAT ' + m.upper() and r['weight_bits'] == int(w) and c['points_per_epoch'] == 8, (r['method'], m)
    l = sum(a * b for a, b in zip(c['loss'], seg)) / 3000
    t = sum(a * b for a, b in zip(c['train_accuracy'], seg)) / 30
    assert abs(l - float(loss)) < 6e-5 and abs(t - float(acc)) < 6e-3, (m, w, l, loss, t, acc)
c = rows[0]['curve']
assert len(c['loss']) == 8 and all(0 < a <= 1 for a in c['train_accuracy']) and all(l > 0 for l in c['loss'])
"
    REPORTS+=("$T/cnn.html" "$T/cnnq.html")
else
    skip ptq_nn_report "missing Fashion-MNIST in $FM"
fi

# ptq-llm on stories260K with reference points
if [ -f "$M" ] && [ -f "$TK" ] && [ -f "$TXT" ]; then
    check ptq_llm_report "$QUANT" ptq-llm --model "$M" --tokenizer "$TK" --eval-text "$TXT" --calib-samples 8 --gen-samples 4 \
        --max-windows 4 --method rtn,gptq --bits 4 --group-size 32 --tune-epochs 1 --e2e-epochs 1 \
        --json "$T/llm.json" --report "$T/llm.html" --compare tests/report/anchors.json
    check ptq_llm_plots $CHECK "$T/llm.html" --max-bytes 1000000 \
        --expect "Perplexity against bits=RTN|GPTQ|fp32|reference points" \
        --expect "Relative error=rtn w4 g32|gptq w4 g32|w8a8 token" --expect "Outlier ratio=attn-in|ffn-down" \
        --expect "Input channels of attn-in (q,k,v): max|x| per channel before and after sq w8a8 tensor=before|after" \
        --expect "Input channels of ffn-down: max|x| per channel before and after sq w8a8 tensor=before|after" \
        --expect "Block-wise tuning=gptq w4 g32 before|gptq w4 g32 after" \
        --expect "End-to-end tuning=before|after"
    # the per-channel magnitudes agree with the outlier table's own max|x| (another field of the run)
    check ptq_llm_channels "$PY" -c "
import json
for o in json.load(open('$T/llm.json'))['outliers']:
    ch = o['channel_absmax']
    assert len(ch) == (172 if o['input_of'] == 'ffn-down' else 64) and o['channels_per_value'] == 1, o['input_of']
    assert abs(max(ch) - o['absmax']) <= 1e-3 * o['absmax'], (max(ch), o['absmax'])
"
    # the smoothing's per-channel magnitudes: the same rows as the site's max / median before and
    # after (computed apart, in the scale search); after = before / s, so SmoothQuant's alpha
    # leaves no channel above the largest before
    check ptq_llm_smoothed_channels "$PY" -c "
import json
j = json.load(open('$T/llm.json'))
v = [x for x in j['scales'] if x['variant'] == 'sq w8a8 tensor'][0]
assert len(v['sites']) == 20
for s in v['sites']:
    b, a = s['channel_absmax_before'], s['channel_absmax_after']
    assert len(a) == len(b) == (172 if s['input_of'] == 'ffn-down' else 64) and s['channels_per_value'] == 1, s['input_of']
    for arr, mx, md in ((b, s['channel_absmax_max_before'], s['channel_absmax_median_before']),
                        (a, s['channel_absmax_max_after'], s['channel_absmax_median_after'])):
        assert abs(max(arr) - mx) <= 1e-3 * mx and abs(sorted(arr)[len(arr) // 2] - md) <= 1e-3 * md, (s['layer'], s['input_of'])
    if 'alpha' not in s: assert a == b
"
    REPORTS+=("$T/llm.html")
    # the outlier fixture: 4 channels x 50 in every norm; the plot of attn-in shows them towering
    # before smoothing and flattened after, and its caption gives the ratios of the JSON
    check ptq_llm_fixture_report "$QUANT" ptq-llm --model "$M" --tokenizer "$TK" --eval-text "$TXT" --calib-samples 8 \
        --max-windows 2 --method rtn --bits 4 --group-size 32 --inject-outliers 4x50 --json "$T/llmo.json" --report "$T/llmo.html"
    check ptq_llm_fixture_plots $CHECK "$T/llmo.html" --max-bytes 1000000 \
        --expect "Input channels of attn-in (q,k,v): max|x| per channel before and after sq w8a8 tensor=before|after" \
        --expect "Input channels of ffn-in (gate,up): max|x| per channel before and after sq w8a8 tensor=before|after"
    check ptq_llm_fixture_flattened "$PY" -c "
import html, json, re
j = json.load(open('$T/llmo.json'))
inj = set(j['injected_outliers']['channels'])
v = [x for x in j['scales'] if x['variant'] == 'sq w8a8 tensor'][0]
page = html.unescape(open('$T/llmo.html', encoding='utf-8').read())
for site in ('attn-in (q,k,v)', 'ffn-in (gate,up)'):
    ss = [s for s in v['sites'] if s['input_of'] == site]
    for s in ss:
        b, a = s['channel_absmax_before'], s['channel_absmax_after']
        top = set(sorted(range(len(b)), key=lambda i: -b[i])[:4])
        assert top == inj, (site, s['layer'], top, inj)               # the injected channels tower...
        assert max(b) > 20 * sorted(b)[len(b) // 2], (site, s['layer'])
        assert max(a) < 3 * sorted(a)[len(a) // 2], (site, s['layer'])  # ...and are flat after
    s = max(ss, key=lambda s: s['channel_absmax_max_before'] / s['channel_absmax_median_before'])
    r0 = s['channel_absmax_max_before'] / s['channel_absmax_median_before']
    r1 = s['channel_absmax_max_after'] / s['channel_absmax_median_after']
    cap = 'layer %d: largest channel %.1f× the median before, %.1f× after' % (s['layer'], r0, r1)
    assert cap in page, cap
"
    REPORTS+=("$T/llmo.html")
    # several runs side by side: a copy of the run with other perplexities shares the plots
    "$PY" -c "
import json
j = json.load(open('$T/llm.json'))
for r in j['rows']: r['perplexity'] *= 1.1
json.dump(j, open('$T/llm-b.json', 'w'))
"
    check compare_report "$QUANT" report "$T/llm.json" "$T/llm-b.json" "$T/basics.json" --out "$T/compare.html" \
        --compare tests/report/anchors.json
    check compare_plots $CHECK "$T/compare.html" --max-bytes 1000000 \
        --expect "Perplexity against bits=llm.json: RTN|llm-b.json: GPTQ|reference points" --expect "value line=grid levels"
    REPORTS+=("$T/compare.html")
    check_fails ptq_llm_compare_without_report "$QUANT" ptq-llm --model "$M" --tokenizer "$TK" --eval-text "$TXT" \
        --compare tests/report/anchors.json
else
    skip ptq_llm_report "missing stories260K.bin / tok512.bin / tinystories_val.txt in $DATA"
fi

# bench: the page builder against the fixture of quant bench's JSON
check bench_report "$QUANT" report tests/report/bench.json --out "$T/bench.html"
check bench_plots $CHECK "$T/bench.html" --max-bytes 1000000 --figures 3 \
    --expect "Decoding=decode (measured)|bandwidth bound" --expect "Prompt=prompt (measured)" --expect "Memory=weights|peak RSS"
REPORTS+=("$T/bench.html")
# and the page quant bench itself writes (a short run on the llama2.c model)
if [ -f "$DATA/stories260K.bin" ]; then
    check bench_live_report "$QUANT" bench --model "$DATA/stories260K.bin" --prompt-tokens 16 --gen-tokens 8 --rounds 1 \
        --bw-mib 64 --report "$T/bench-live.html"
    check bench_live_plots $CHECK "$T/bench-live.html" --max-bytes 1000000 --figures 3 \
        --expect "Decoding=decode (measured)|bandwidth bound" --expect "Prompt=prompt (measured)" --expect "Memory=weights|peak RSS"
    REPORTS+=("$T/bench-live.html")
else
    skip bench_live_report "missing stories260K.bin in $DATA"
fi

# hostile input: one error line, no output file
echo '{"command": "basics", "rows": [{"bits": "8"}]}' > "$T/badtype.json"
check_fails report_bad_type "$QUANT" report "$T/badtype.json" --out "$T/bad.html"
echo '{"command": "basics", "rows": [' > "$T/trunc.json"
check_fails report_truncated_json "$QUANT" report "$T/trunc.json" --out "$T/bad.html"
echo '{"command": "nope"}' > "$T/unknown.json"
check_fails report_unknown_command "$QUANT" report "$T/unknown.json" --out "$T/bad.html"
echo '{"anchors": [{"label": "x", "bits_per_weight": "4", "perplexity": 5}]}' > "$T/badanchors.json"
check_fails report_bad_anchors "$QUANT" report tests/report/bench.json "$T/basics.json" --compare "$T/badanchors.json" --out "$T/bad.html"
check_fails report_missing_file "$QUANT" report "$T/nope.json" --out "$T/bad.html"
check_fails report_no_out "$QUANT" report tests/report/bench.json
check no_partial_report test ! -e "$T/bad.html"

# the browser: every report opens with no console error, fast, with data in every plot; and the
# checker itself catches a console error and an empty plot
if command -v chromium >/dev/null && command -v chromedriver >/dev/null && "$PY" -c "import PIL" 2>/dev/null; then
    check browser_reports "$PY" tests/reference/report_browser.py ${QUANT_REPORT_SHOTS:+--shots "$QUANT_REPORT_SHOTS"} "${REPORTS[@]}"
    sed 's/^/  /' "$T/out"
    check browser_catches_errors "$PY" tests/reference/report_browser.py --expect-fail tests/report/broken.html
else
    skip browser_reports "no chromium / chromedriver / python3-pil (bash scripts/setup.sh --test installs them)"
fi
summary
