#!/usr/bin/env bash
# quant qat end to end on a short recipe: QAT from a saved fp32 model, the converted integer
# models agree with their fake-quant twins, QAT beats PTQ at 2 bits, files and flags.
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
check_fails "qat --arch cnn cannot start from a file yet" "$QUANT" qat --arch cnn --from "$T/m/mlp-fp32.qnn"
check_fails "qat --arch cnn has LSQ only" "$QUANT" qat --arch cnn --method ste
check_fails "ptq-nn --arch cnn cannot save yet" "$QUANT" ptq-nn --arch cnn --save-model "$T/c"
summary
