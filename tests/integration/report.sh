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
        --expect "Input channels of ffn-down=layer 0|layer 4" --expect "Block-wise tuning=gptq w4 g32 before|gptq w4 g32 after" \
        --expect "End-to-end tuning=before|after"
    # the per-channel magnitudes agree with the outlier table's own max|x| (another field of the run)
    check ptq_llm_channels "$PY" -c "
import json
for o in json.load(open('$T/llm.json'))['outliers']:
    ch = o['channel_absmax']
    assert len(ch) == (172 if o['input_of'] == 'ffn-down' else 64) and o['channels_per_value'] == 1, o['input_of']
    assert abs(max(ch) - o['absmax']) <= 1e-3 * o['absmax'], (max(ch), o['absmax'])
"
    REPORTS+=("$T/llm.html")
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
