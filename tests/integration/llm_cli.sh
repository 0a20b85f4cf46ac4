#!/usr/bin/env bash
# llm_cli.sh — `quant generate` / `quant eval` from the command line on stories260K:
# the golden greedy text llama2.c publishes, underscore flag spellings, -n, --json output.
source "$(dirname "$0")/lib.sh"
PY=${QUANT_PYTHON:-/usr/bin/python3}
M=$DATA/stories260K.bin; TK=$DATA/tok512.bin; TXT=$DATA/tinystories_val.txt
if [ ! -f "$M" ] || [ ! -f "$TK" ] || [ ! -f "$TXT" ]; then
    skip llm_cli "missing stories260K.bin / tok512.bin / tinystories_val.txt in $DATA"; summary; exit $?
fi
golden="Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
check generate_greedy "$QUANT" generate --model "$M" --tokenizer "$TK" -n 40
cp "$T/out" "$T/greedy"
check generate_golden grep -qF "$golden" "$T/greedy"
# sampled text repeats with the same seed
"$QUANT" generate --model "$M" --tokenizer "$TK" --prompt "Once upon a time" -n 40 --temp 0.8 --top_p 0.9 --seed 7 > "$T/s1" 2>/dev/null
"$QUANT" generate --model "$M" --tokenizer "$TK" --prompt "Once upon a time" -n 40 --temp 0.8 --top_p 0.9 --seed 7 > "$T/s2" 2>/dev/null
check generate_seeded_repeat cmp -s "$T/s1" "$T/s2"
check generate_prompt_echo grep -q "^Once upon a time" "$T/s1"
# underscore spellings, both protocols, JSON
check eval_json "$QUANT" eval --model "$M" --tokenizer "$TK" --text "$TXT" --seq_len=128 --ppl_protocol=all \
    --max_windows=20 --json "$T/ev.json"
if "$PY" -c 1 2>/dev/null; then
    check eval_json_fields "$PY" -c "
import json, sys
j = json.load(open('$T/ev.json'))
r = j['results']
assert [x['protocol_name'] for x in r] == ['windows', 'llama.cpp']
assert r[0]['tokens_scored'] == 20 * 127 and r[1]['tokens_scored'] == 20 * 63, r
assert all(1.0 < x['perplexity'] < 20.0 for x in r)
"
fi
summary
