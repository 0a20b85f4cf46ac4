#!/usr/bin/env bash
# ptq_nn.sh — `quant ptq-nn` / `quant eval-nn` from the command line on Fashion-MNIST (1 epoch):
# --save_model=True writes models/ in the working directory; every saved .qnn reloaded by
# eval-nn reproduces its row's accuracy exactly; the integer W8A8 path agrees with the
# fake-quant simulation and stays near fp32; bad flags and corrupted files give one
# 'quant: error:' line and leave no partial output.
source "$(dirname "$0")/lib.sh"
PY=${QUANT_PYTHON:-/usr/bin/python3}
FM=${QUANT_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -f "$FM/train-images-idx3-ubyte.gz" ] || [ ! -f "$FM/t10k-labels-idx1-ubyte.gz" ]; then
    skip ptq_nn "missing Fashion-MNIST (train-images-idx3-ubyte.gz ...) in $FM"; summary; exit $?
fi
if ! "$PY" -c 1 2>/dev/null; then skip ptq_nn "no $PY"; summary; exit $?; fi
FAST=(--epochs 1 --no-bench --bits 8,4 --data "$FM")

# (a) --save_model=True from inside a fresh directory -> ./models/
mkdir -p "$T/x"
check save_model_true bash -c "cd '$T/x' && '$QUANT' ptq-nn ${FAST[*]} --save_model=True"
for f in mlp-fp32.qnn mlp-w8a8.qnn mlp-w8-tensor-sym.qnn mlp-w8-channel-affine.qnn mlp-w4-channel-sym.qnn \
         mlp-w4-tensor-affine.qnn; do
    check "models_dir_has_$f" test -s "$T/x/models/$f"
done

# (b) --save-model DIR --json: every saved file reproduces its row's accuracy through eval-nn
check ptq_json "$QUANT" ptq-nn "${FAST[@]}" --save-model "$T/m" --json "$T/p.json"
"$PY" -c "
import json
for r in json.load(open('$T/p.json'))['rows']:
    if r.get('file'): print(r['file'], repr(r['accuracy']))
" > "$T/files" 2>/dev/null
check ptq_json_lists_files test "$(grep -c . "$T/files")" -ge 13
while read -r f acc; do
    check "eval_nn_runs_$f" "$QUANT" eval-nn --model "$T/m/$f" --data "$FM" --json "$T/e.json"
    check "eval_nn_same_acc_$f" "$PY" -c "
import json
e = json.load(open('$T/e.json'))['accuracy']
assert e == $acc, (e, $acc)
assert json.load(open('$T/e.json'))['test_images'] == 10000
"
done < "$T/files"

# (c) integer path == fake-quant simulation; W8A8 integer row near fp32 even after 1 epoch
check w8a8_agreement_and_accuracy "$PY" -c "
import json
j = json.load(open('$T/p.json'))
assert j['agreement_int_vs_fakequant'] >= 0.999, j['agreement_int_vs_fakequant']
rows = {r['method']: r for r in j['rows']}
fp, si = rows['fp32']['accuracy'], rows['static (integer)']['accuracy']
assert 0.75 < fp < 0.95, fp                    # 1 epoch of Adam on Fashion-MNIST: ~83%
assert abs(si - fp) <= 0.003, (si, fp)         # within 0.3 points
w8 = [r for r in j['rows'] if r['weight_bits'] == 8 and r['method'].startswith('weight-only')]
assert len(w8) == 4 and all(abs(r['accuracy'] - fp) <= 0.003 for r in w8), w8
assert rows['fp32']['bytes'] > 3.8 * rows['static (integer)']['bytes']
"

# (d) bad flags and bad files
check_fails unknown_flag "$QUANT" ptq-nn --no-bench --bogus-flag 1
check_fails bits_9 "$QUANT" ptq-nn "${FAST[@]}" --bits 9
check_fails observer_bogus "$QUANT" ptq-nn "${FAST[@]}" --observer bogus
check_fails calib_samples_0 "$QUANT" ptq-nn "${FAST[@]}" --calib-samples 0
check_fails data_missing "$QUANT" ptq-nn "${FAST[@]}" --data /nonexistent
check_fails eval_nn_missing_model "$QUANT" eval-nn --model "$T/nope.qnn" --data "$FM"
check_fails eval_nn_no_model "$QUANT" eval-nn --data "$FM"
cp "$T/m/mlp-w8a8.qnn" "$T/trunc.qnn"
"$PY" -c "
import os
p = '$T/trunc.qnn'; n = os.path.getsize(p)
os.truncate(p, n // 2)
"
check_fails eval_nn_truncated "$QUANT" eval-nn --model "$T/trunc.qnn" --data "$FM"
# flip one byte in every 4 KiB block of the payload and one in the header: a .qnn must never
# load as a silently different model (checksum / validated header)
cp "$T/m/mlp-w8a8.qnn" "$T/flip.qnn"
"$PY" -c "
p = '$T/flip.qnn'; b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0x40
open(p, 'wb').write(b)
"
check_fails eval_nn_bitflip_payload "$QUANT" eval-nn --model "$T/flip.qnn" --data "$FM"
cp "$T/m/mlp-fp32.qnn" "$T/flip2.qnn"
"$PY" -c "
p = '$T/flip2.qnn'; b = bytearray(open(p, 'rb').read())
b[9] ^= 0x01
open(p, 'wb').write(b)
"
check_fails eval_nn_bitflip_header "$QUANT" eval-nn --model "$T/flip2.qnn" --data "$FM"
cp "$T/m/mlp-w4-channel-sym.qnn" "$T/empty.qnn"; : > "$T/empty.qnn"
check_fails eval_nn_empty_file "$QUANT" eval-nn --model "$T/empty.qnn" --data "$FM"

# failing saves leave nothing behind: parent is a regular file; read-only directory
echo x > "$T/afile"
check_fails save_parent_is_file "$QUANT" ptq-nn "${FAST[@]}" --save-model "$T/afile/sub"
check save_parent_is_file_untouched bash -c "[ \"\$(cat '$T/afile')\" = x ]"
if [ "$(id -u)" != 0 ]; then
    mkdir -p "$T/ro"; chmod 555 "$T/ro"
    check_fails save_readonly_dir "$QUANT" ptq-nn "${FAST[@]}" --save-model "$T/ro"
    check save_readonly_dir_empty test -z "$(ls -A "$T/ro")"
    chmod 755 "$T/ro"
else
    skip save_readonly_dir "running as root: a read-only directory is still writable"
fi
# the last file's rename fails (a directory holds its name): the error names it, the files
# written before it are complete, and no temporary is left behind
mkdir -p "$T/d/mlp-w8a8.qnn"
check_fails save_rename_fails "$QUANT" ptq-nn "${FAST[@]}" --save-model "$T/d"
check save_rename_fails_no_tmp bash -c "! ls -A '$T/d' | grep -v '^mlp-[a-z0-9-]*\.qnn\$'"
check save_rename_fails_earlier_files_ok "$QUANT" eval-nn --model "$T/d/mlp-fp32.qnn" --data "$FM"
check_fails json_parent_is_file "$QUANT" ptq-nn "${FAST[@]}" --json "$T/afile/out.json"
check json_parent_no_tmp bash -c "! ls '$T' | grep -q 'afile.*tmp'"
summary
