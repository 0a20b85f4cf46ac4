#!/usr/bin/env bash
# quant qat end to end on a short recipe: QAT from a saved fp32 model, the converted integer
# models agree with their fake-quant twins, QAT beats PTQ at 2 bits, files and flags; the same
# for the CNN (ptq-nn --arch cnn --save-model, qat --arch cnn --from, eval-nn on CNN files).
cd "$(dirname "$0")/../.." && source tests/integration/lib.sh
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${QUANT_FASHION_DIR:-}" ]; then
    skip qat "Fashion-MNIST missing (apt-get install dataset-fashion-mnist)"; summary; exit $?
fi
check "fp32 model for QAT" "$QUANT" ptq-nn --epochs 2 --bits 8 --no-bench --save-model "$T/m"
check "qat W2A8 STE+LSQ, 1 epoch" "$QUANT" qat --from "$T/m/mlp-fp32.qnn" --bits 2 --epochs 1 --save-model "$T/q" --json "$T/q.json"
check "qat JSON" /usr/bin/python3 - "$T/q.json" <<'PY'
import json, sys
rows = {r["method"]: r for r in json.load(open(sys.argv[1]))["rows"]}
ptq, ste, lsq = rows["PTQ"], rows["QAT STE"], rows["QAT LSQ"]
for r in (ptq, ste, lsq):
    assert r["agreement"] >= 0.999, r
assert max(ste["accuracy_integer"], lsq["accuracy_integer"]) > ptq["accuracy_integer"] + 0.2, rows
assert lsq["accuracy_fake_quant"] > 0.8, lsq
PY
check "saved integer QAT model reloads to its accuracy" bash -c "\"$QUANT\" eval-nn --model $T/q/mlp-w2a8-qat-lsq.qnn --json $T/e.json && /usr/bin/python3 -c \"import json; a=json.load(open('$T/e.json'))['accuracy']; r=[x for x in json.load(open('$T/q.json'))['rows'] if x['method']=='QAT LSQ'][0]; assert a==r['accuracy_integer'], (a, r)\""
check_fails "qat from a quantized file" "$QUANT" qat --from "$T/m/mlp-w8a8.qnn" --bits 4 --epochs 1
check_fails "qat --bits 1" "$QUANT" qat --from "$T/m/mlp-fp32.qnn" --bits 1
check_fails "qat --method bogus" "$QUANT" qat --from "$T/m/mlp-fp32.qnn" --method bogus

# The CNN on a short recipe (1 epoch on 10000 images): files reload to the accuracy printed
# before saving, QAT starts from the saved fp32 CNN, STE and LSQ integer CNNs agree with their
# simulations.
check "cnn fp32 + W8A8 saved" "$QUANT" ptq-nn --arch cnn --epochs 1 --train-samples 10000 --bits 8 --save-model "$T/c" --json "$T/c.json"
same_acc() { # FILE.qnn RESULT.json METHOD KEY: eval-nn's accuracy equals the row's
    "$QUANT" eval-nn --model "$1" --json "$T/e2.json" && /usr/bin/python3 - "$T/e2.json" "$2" "$3" "$4" "$1" <<'PY'
import json, os, sys
a = json.load(open(sys.argv[1]))["accuracy"]
r = [x for x in json.load(open(sys.argv[2]))["rows"] if x["method"] == sys.argv[3]][0]
assert a == r[sys.argv[4]], (a, r)
if "file_bytes" in r: assert r["file_bytes"] == os.path.getsize(sys.argv[5]), r
PY
}
check "cnn-fp32.qnn reloads to its accuracy" same_acc "$T/c/cnn-fp32.qnn" "$T/c.json" "fp32 (cnn)" accuracy
check "cnn-w8a8.qnn reloads to its integer accuracy" same_acc "$T/c/cnn-w8a8.qnn" "$T/c.json" "static (integer)" accuracy
check "cnn ptq-nn agreement" /usr/bin/python3 -c "import json,sys; r=json.load(open('$T/c.json')); assert r['agreement_int_vs_fakequant'] >= 0.999, r"
check "qat --arch cnn from the saved fp32 CNN, W2A8 STE+LSQ" "$QUANT" qat --arch cnn --from "$T/c/cnn-fp32.qnn" --bits 2 --epochs 1 --train-samples 10000 --save-model "$T/cq" --json "$T/cq.json"
check "qat --arch cnn JSON" /usr/bin/python3 - "$T/cq.json" "$T/c.json" <<'PY'
import json, sys
rows = {r["method"]: r for r in json.load(open(sys.argv[1]))["rows"]}
fp = [r for r in json.load(open(sys.argv[2]))["rows"] if r["method"] == "fp32 (cnn)"][0]
assert rows["fp32 (cnn)"]["accuracy_fake_quant"] == fp["accuracy"], (rows, fp)  # the file's model
for m in ("PTQ", "QAT STE", "QAT LSQ"):
    assert rows[m]["agreement"] >= 0.999, rows[m]
    assert rows[m]["file_bytes"] < 6000, rows[m]  # 2-bit codes packed
assert max(rows["QAT STE"]["accuracy_integer"], rows["QAT LSQ"]["accuracy_integer"]) > rows["PTQ"]["accuracy_integer"], rows
PY
check "cnn-w2a8-qat-ste.qnn reloads to its integer accuracy" same_acc "$T/cq/cnn-w2a8-qat-ste.qnn" "$T/cq.json" "QAT STE" accuracy_integer
check "cnn-w2a8-qat-lsq.qnn reloads to its integer accuracy" same_acc "$T/cq/cnn-w2a8-qat-lsq.qnn" "$T/cq.json" "QAT LSQ" accuracy_integer
check_fails "qat --arch cnn from an MLP file" "$QUANT" qat --arch cnn --from "$T/m/mlp-fp32.qnn" --bits 2 --epochs 1
check_fails "qat --arch mlp from a CNN file" "$QUANT" qat --from "$T/c/cnn-fp32.qnn" --bits 2 --epochs 1
check_fails "qat --arch cnn from an integer CNN" "$QUANT" qat --arch cnn --from "$T/c/cnn-w8a8.qnn" --bits 2 --epochs 1
check_fails "ptq-nn --arch cnn --from an MLP file" "$QUANT" ptq-nn --arch cnn --from "$T/m/mlp-fp32.qnn" --save-model "$T/bad"
check "a failed run leaves no files" test ! -e "$T/bad/cnn-fp32.qnn"
head -c 3000 "$T/c/cnn-w8a8.qnn" > "$T/trunc.qnn"
check_fails "eval-nn on a truncated CNN file" "$QUANT" eval-nn --model "$T/trunc.qnn"
summary
