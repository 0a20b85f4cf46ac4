#!/usr/bin/env bash
# --model_name against a local stand-in for the Hugging Face Hub (tests/reference/fake_hub.py on
# 127.0.0.1): download into the HF cache layout, reuse of the cache with the server gone,
# HF_HUB_OFFLINE, truncated transfers, tokens, sharded weights, local directories first.
cd "$(dirname "$0")/../.." && source tests/integration/lib.sh
PY=/usr/bin/python3
if ! $PY -c "import numpy" 2>/dev/null; then skip hub "needs /usr/bin/python3 with numpy"; summary; exit $?; fi
REPO=$T/hubroot/test-org/tiny-gpt2
mkdir -p "$REPO" "$T/hubroot/test-org/sharded"
$PY tests/reference/llm_ref.py make "$T/m1" --arch gpt2 >/dev/null
$PY tests/reference/llm_ref.py make "$T/m2" --arch llama --shards 2 >/dev/null
cp "$T"/m1/* "$REPO/"; cp "$T"/m2/* "$T/hubroot/test-org/sharded/"
printf '{"a": 0}' > "$REPO/vocab.json"; printf '#version: 0.2\n' > "$REPO/merges.txt"
cp "$REPO/vocab.json" "$REPO/merges.txt" "$T/hubroot/test-org/sharded/"
serve() { # serve [options...]: starts the fake hub, sets HF_ENDPOINT
    rm -f "$T/port"
    $PY tests/reference/fake_hub.py "$T/hubroot" "$T/port" --lifetime 60 "$@" &
    SRV=$!
    for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
    export HF_ENDPOINT="http://127.0.0.1:$(cat "$T/port")"
}
stop() { curl -s "$HF_ENDPOINT/shutdown" >/dev/null 2>&1; wait "$SRV" 2>/dev/null; }
export HF_HOME=$T/hf
unset HF_HUB_CACHE HF_TOKEN HF_HUB_OFFLINE
serve
check "download into the cache" "$QUANT" download --model_name test-org/tiny-gpt2
SNAP=$HF_HOME/hub/models--test-org--tiny-gpt2/snapshots/0123456789abcdef0123456789abcdef01234567
check "snapshot has config, weights (via redirect), tokenizer" test -f "$SNAP/config.json" -a -f "$SNAP/model.safetensors" -a -f "$SNAP/vocab.json"
check "weights byte-identical" cmp "$SNAP/model.safetensors" "$REPO/model.safetensors"
check "refs/main holds the commit" grep -qx 0123456789abcdef0123456789abcdef01234567 "$HF_HOME/hub/models--test-org--tiny-gpt2/refs/main"
check "sharded model: index + every shard" "$QUANT" download --model_name test-org/sharded
check "shards present" bash -c "ls $HF_HOME/hub/models--test-org--sharded/snapshots/*/model-0000*-of-00002.safetensors | wc -l | grep -qx 2"
check_fails "missing repo: 404 named" "$QUANT" download --model_name test-org/nope
grep -q "404" "$T/err" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL 404 not in message"; }
stop
check "cache reused with the server gone" "$QUANT" download --model_name test-org/tiny-gpt2
grep -q "$SNAP" "$T/out" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL cached path"; }
HF_HUB_OFFLINE=1 check_fails "offline and not cached" "$QUANT" download --model_name test-org/other
serve --truncate model.safetensors
HF_HOME=$T/hf2 check_fails "truncated transfer" "$QUANT" download --model_name test-org/tiny-gpt2
check "no file left under a final name" bash -c "! find $T/hf2 -name model.safetensors | grep -q ."
stop
serve --token sekret
HF_HOME=$T/hf3 check_fails "401 without HF_TOKEN" "$QUANT" download --model_name test-org/tiny-gpt2
grep -q "HF_TOKEN" "$T/err" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL 401 message does not mention HF_TOKEN"; }
HF_HOME=$T/hf3 HF_TOKEN=sekret check "works with HF_TOKEN" "$QUANT" download --model_name test-org/tiny-gpt2
stop
serve --commit ../../../escaped
HF_HOME=$T/hf4 check_fails "X-Repo-Commit that is not a hash is refused" "$QUANT" download --model_name test-org/tiny-gpt2
check "nothing written outside the cache" bash -c "! find $T/hf4 -name 'escaped*' | grep -q ."
stop
HF_HOME=$T/hf4 check_fails "revision with a path in it is refused" "$QUANT" download --model_name test-org/tiny-gpt2 --revision ../../x
check "a local directory wins" "$QUANT" download --model_name "$T/m1"
grep -qx "$T/m1" "$T/out" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL local dir"; }
# Hostile servers: each response is bounded in size, time and number of requests; every
# failure is one error line; nothing is left under a final name nor written outside the cache.
touch "$T/marker"
msg() { grep -q "$1" "$T/err" && _p=$((_p + 1)) || { _f=$((_f + 1)); echo "  FAIL message lacks '$1':"; head -n 3 "$T/err"; }; }
no_final() { check "$1: nothing under a final name" bash -c "! find $2 -name config.json -o -name '*.safetensors' -o -name tokenizer.json | grep -q ."; }
serve --endless config.json
HF_HOME=$T/h5 check_fails "endless response without Content-Length" /usr/bin/time -f "%M" -o "$T/rss" "$QUANT" download --model_name test-org/tiny-gpt2
msg "larger than the 268435456 bytes allowed"
check "endless response: peak RSS under 200 MB" bash -c "[ \$(tail -n 1 $T/rss) -lt 200000 ]"
no_final "endless" "$T/h5"
stop
serve --huge model.safetensors
HF_HOME=$T/h6 check_fails "Content-Length of 10^15 refused before the body" "$QUANT" download --model_name test-org/tiny-gpt2
msg "QUANT_HUB_MAX_BYTES"
no_final "huge" "$T/h6"
stop
serve --slow config.json
t0=$(date +%s)
HF_HOME=$T/h7 QUANT_HUB_STALL_SECONDS=2 check_fails "slow server dropped" "$QUANT" download --model_name test-org/tiny-gpt2
check "slow server dropped within 15 s" test $(( $(date +%s) - t0 )) -lt 15
no_final "slow" "$T/h7"
stop
serve --garbage config.json
HF_HOME=$T/h8 check_fails "response that is not HTTP" "$QUANT" download --model_name test-org/tiny-gpt2
stop
serve --redirect-file model.safetensors
HF_HOME=$T/h9 check_fails "redirect to file:// refused" "$QUANT" download --model_name test-org/tiny-gpt2
no_final "file:// redirect" "$T/h9"
stop
serve --loop 1
t0=$(date +%s)
HF_HOME=$T/h10 check_fails "redirect loop stops by itself" "$QUANT" download --model_name test-org/tiny-gpt2
check "redirect loop stopped within 15 s" test $(( $(date +%s) - t0 )) -lt 15
stop
serve --shards 100000
t0=$(date +%s)
HF_HOME=$T/h11 check_fails "index naming 100000 shards refused" "$QUANT" download --model_name test-org/tiny-gpt2
msg "shard files, more than 4096"
check "shard flood refused within 15 s" test $(( $(date +%s) - t0 )) -lt 15
stop
check "hostile servers: nothing written outside the caches" bash -c "! find $T -newer $T/marker -type f ! -path '$T/h*' ! -name port ! -name 'port.tmp' ! -name err ! -name out ! -name rss | grep -q ."
check "hostile servers: no staging directory left" bash -c "! find $T/h5 $T/h6 $T/h7 $T/h8 $T/h9 $T/h10 $T/h11 -name '.download-*' 2>/dev/null | grep -q ."
summary
